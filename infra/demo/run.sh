#!/usr/bin/env bash
# make demo: a local broker, the stream worker, the bundled MovieLens timeline
# replayed through it, and the per-slice table once the last slice has closed.
# Everything lives under var/demo, which each run starts afresh.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEMO=var/demo
PORT=39092            # its own ports and data dir: the demo never touches `make kafka-up`'s broker
CONTROLLER_PORT=39093
BOOTSTRAP="127.0.0.1:$PORT"
SLICES=3              # the replayer's default cutoffs 0.5,0.8 give S, F and T
WAIT_LIMIT_S=1800     # Set-up training plus two RAIE updates take minutes on 2 cores
BIN=.venv/bin

bash infra/kafka/kafka.sh down --data-dir "$DEMO/kafka" >/dev/null 2>&1 || true
rm -rf "$DEMO"
mkdir -p "$DEMO"
bash infra/kafka/kafka.sh up --port "$PORT" --controller-port "$CONTROLLER_PORT" --data-dir "$DEMO/kafka"

worker=""
stop_all() {
  if [[ -n "$worker" ]] && kill -0 "$worker" 2>/dev/null; then
    kill -TERM "$worker"
    wait "$worker" 2>/dev/null || true
  fi
  bash infra/kafka/kafka.sh down --data-dir "$DEMO/kafka" >/dev/null
}
trap stop_all EXIT

"$BIN/raie" worker --bootstrap "$BOOTSTRAP" --store "$DEMO/store" --dataset movielens >"$DEMO/worker.log" 2>&1 &
worker=$!
"$BIN/raie" replay --dataset movielens --data-dir data/ml-latest-small --bootstrap "$BOOTSTRAP"

echo "demo: waiting for the stream to close $SLICES slices (log: $DEMO/worker.log)"
state="$DEMO/store/artifacts/state.json"
for ((waited = 0; waited < WAIT_LIMIT_S; waited += 5)); do
  if [[ -f "$state" ]] && "$BIN/python" -c "import json,sys; sys.exit(json.load(open('$state'))['closed_slices'] < $SLICES)"; then
    break
  fi
  if ! kill -0 "$worker" 2>/dev/null; then
    echo "demo: the worker stopped; last lines of $DEMO/worker.log:" >&2
    tail -n 40 "$DEMO/worker.log" >&2
    exit 1
  fi
  sleep 5
done
stop_all
trap - EXIT
"$BIN/raie" metrics --store "$DEMO/store" --format table --sql "$(cat infra/demo/slices.sql)"
echo
"$BIN/raie" metrics --store "$DEMO/store" --format table --sql "$(cat infra/demo/adapters.sql)"
# Adapters and tensors are safetensors + JSON only: a pickle here would be a defect.
pickles=$(find "$DEMO/store" -type f \( -name '*.pkl' -o -name '*.pickle' -o -name '*.pt' -o -name '*.pth' -o -name '*.bin' \))
if [[ -n "$pickles" ]]; then
  echo "demo: pickle files in the store:" >&2
  echo "$pickles" >&2
  exit 1
fi
echo "demo: $(find "$DEMO/store/adapters" -name manifest.json | wc -l) adapter versions with manifests in $DEMO/store/adapters, no pickle files"
