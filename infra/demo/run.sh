#!/usr/bin/env bash
# make demo: a local broker, the stream worker, the bundled MovieLens timeline
# replayed through it, and the per-slice tables once the last slice has closed;
# then the offline runner on the same data and seed, to show that the stream's
# prequential scores of slice 2 are the offline T scores.
# The store is var/demo (`raie metrics --store var/demo`); the broker's data and
# the worker's log sit beside it. Each run starts afresh.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEMO=var/demo         # the store
BROKER_DATA=var/demo-kafka
LOG=var/demo-worker.log
PORT=39092            # its own ports and data dir: the demo never touches `make kafka-up`'s broker
CONTROLLER_PORT=39093
BOOTSTRAP="127.0.0.1:$PORT"
SLICES=3              # the replayer's default cutoffs 0.5,0.8 give S, F and T
WAIT_LIMIT_S=1800     # Set-up training plus two RAIE updates take minutes on 2 cores
BIN=.venv/bin

bash infra/kafka/kafka.sh down --data-dir "$BROKER_DATA" >/dev/null 2>&1 || true
rm -rf "$DEMO" "$BROKER_DATA" "$LOG"
bash infra/kafka/kafka.sh up --port "$PORT" --controller-port "$CONTROLLER_PORT" --data-dir "$BROKER_DATA"

worker=""
stop_all() {
  if [[ -n "$worker" ]] && kill -0 "$worker" 2>/dev/null; then
    kill -TERM "$worker"
    wait "$worker" 2>/dev/null || true
  fi
  bash infra/kafka/kafka.sh down --data-dir "$BROKER_DATA" >/dev/null
}
trap stop_all EXIT

# Scored beside RAIE: its global adapter alone, the frozen Set-up model, and the LoRA baseline (its own jobs).
"$BIN/raie" worker --bootstrap "$BOOTSTRAP" --store "$DEMO" --dataset movielens \
  --score-methods raie,raie-wo-kr,base,lora >"$LOG" 2>&1 &
worker=$!
"$BIN/raie" replay --dataset movielens --data-dir data/ml-latest-small --bootstrap "$BOOTSTRAP"

echo "demo: waiting for the stream to close $SLICES slices (log: $LOG)"
state="$DEMO/artifacts/state.json"
for ((waited = 0; waited < WAIT_LIMIT_S; waited += 5)); do
  if [[ -f "$state" ]] && "$BIN/python" -c "import json,sys; sys.exit(json.load(open('$state'))['closed_slices'] < $SLICES)"; then
    break
  fi
  if ! kill -0 "$worker" 2>/dev/null; then
    echo "demo: the worker stopped; last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  sleep 5
done
stop_all
trap - EXIT
"$BIN/raie" metrics --store "$DEMO" --format table --sql "$(cat infra/demo/slices.sql)"
echo
"$BIN/raie" metrics --store "$DEMO" --format table --sql "$(cat infra/demo/adapters.sql)"
echo
echo "demo: prequential scores (each slice ranked before it is trained on)"
"$BIN/raie" metrics --store "$DEMO" --report slices --plot "$DEMO/reports/slices.png"

echo
echo "demo: the offline runner on the same data and seed (raie experiment), into the same store"
"$BIN/raie" experiment --dataset movielens --data-dir data/ml-latest-small --methods raie,base,lora --seeds 0 \
  --store "$DEMO" >"$DEMO/experiment.log" 2>&1 || { tail -n 40 "$DEMO/experiment.log" >&2; exit 1; }
echo "demo: stream slice 2 against offline T (cutoffs 0.5/0.8 make slice 2 the T block)"
"$BIN/raie" metrics --store "$DEMO" --format table --sql "$(cat infra/demo/agreement.sql)"

# Slices are stored by (run, method, seed, slice) partitions: a window recorded twice would be a defect.
duplicated=$("$BIN/raie" metrics --store "$DEMO" --format csv --sql \
  "SELECT count(*) AS n FROM (SELECT 1 FROM windows GROUP BY run_id, method, seed, slice, role, user_id, position HAVING count(*) > 1)" | tail -n 1)
if [[ "$duplicated" != "0" ]]; then
  echo "demo: $duplicated windows are recorded more than once" >&2
  exit 1
fi
# Adapters and tensors are safetensors + JSON only: a pickle here would be a defect.
pickles=$(find "$DEMO" -type f \( -name '*.pkl' -o -name '*.pickle' -o -name '*.pt' -o -name '*.pth' -o -name '*.bin' \))
if [[ -n "$pickles" ]]; then
  echo "demo: pickle files in the store:" >&2
  echo "$pickles" >&2
  exit 1
fi
echo "demo: $(find "$DEMO/adapters" -name manifest.json | wc -l) adapter versions with manifests in $DEMO/adapters, no pickle files, no window stored twice"
