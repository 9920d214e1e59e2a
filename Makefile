# RAIE Stream: the two commands of README.md, and the pieces they are made of.
# Every target installs what it needs into .venv first; a repeat install is a no-op.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The stamp records that .venv matches these files; editing one reinstalls.
STAMP := $(VENV)/.installed
DATA ?= data/ml-latest-small
STORE ?= var/store
METHODS ?= base,lora,replay,lwf,raie,raie-wo-kr,raie-wo-ke,raie-wo-all
SEEDS ?= 0,1,2

.PHONY: install experiment test lint typecheck unit e2e bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The main job: the offline experiment on the bundled MovieLens data.
experiment: $(STAMP)
	$(BIN)/raie experiment --dataset movielens --data-dir $(DATA) --backbone sasrec \
		--methods $(METHODS) --seeds $(SEEDS) --store $(STORE)

# The whole suite: lint, types, then every test tier.
test: lint typecheck $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

e2e: $(STAMP)
	$(BIN)/python -m pytest -m e2e

bench: $(STAMP)
	$(BIN)/python bench/experiment_wall_time.py
	$(BIN)/python bench/eval_throughput.py
	$(BIN)/python bench/yelp_load.py
	$(BIN)/raie data stats --dataset movielens --data-dir $(DATA)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
