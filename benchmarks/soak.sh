#!/usr/bin/env bash
# Soak test (not part of CI): kill a CPU run of the packaged encoder five times at random moments,
# resume it each time, and check that its final dev scores match an uninterrupted run.
#   bash benchmarks/soak.sh            # about 10 minutes on 2 cores
# Prints one line per kill, then the comparison; exits non-zero on a mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/soak-$(date +%Y%m%d-%H%M%S)}
KILLS=${KILLS:-5}
ARGS=(--encoder minilm-l6 --amp auto --batch_size 16 --max_train_examples 400 --max_eval_examples 200
      --epochs 2 --updates_per_epoch 30 --task_scheduler random --projection vaccine --combine_strategy encourage --batches_per_update 4
      --save_every 1 --no-progress --threads 2)
mkdir -p "$OUT"
echo "uninterrupted run -> $OUT/full"
"$PY" -m mtlib "${ARGS[@]}" --save_path "$OUT/full" > "$OUT/full.log" 2>&1
"$PY" -m mtlib "${ARGS[@]}" --save_path "$OUT/killed" > "$OUT/killed.log" 2>&1 &
pid=$!
count() { local n; n=$(grep -c '"kind": "train"' "$OUT/killed/metrics.jsonl" 2>/dev/null); echo "${n:-0}"; }
for i in $(seq 1 "$KILLS"); do
  # kill at a random moment of training: after 1-8 more logged updates, plus a random fraction of one
  target=$(( $(count) + 1 + RANDOM % 8 ))
  while kill -0 "$pid" 2>/dev/null && [ "$(count)" -lt "$target" ]; do sleep 0.2; done
  sleep "0.$(( RANDOM % 10 ))"
  if ! kill -0 "$pid" 2>/dev/null; then echo "kill $i: the run had already finished"; break; fi
  steps=$(count)
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  if [ -f "$OUT/killed/state/trainer.json" ] || [ -f "$OUT/killed/state.old/trainer.json" ]; then
    echo "kill $i: SIGKILL after $steps logged updates; resuming"
    "$PY" -m mtlib --resume "$OUT/killed" --no-progress >> "$OUT/killed.log" 2>&1 &
  else
    echo "kill $i: SIGKILL before the first saved state; starting again"
    "$PY" -m mtlib "${ARGS[@]}" --save_path "$OUT/killed" --overwrite >> "$OUT/killed.log" 2>&1 &
  fi
  pid=$!
done
wait "$pid"
"$PY" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
a = json.load(open(f"{out}/full/results.json"))["dev"]
b = json.load(open(f"{out}/killed/results.json"))["dev"]
print("uninterrupted:", {k: round(v, 4) for k, v in a.items()})
print("killed+resumed:", {k: round(v, 4) for k, v in b.items()})
sys.exit(0 if a == b else "MISMATCH: the resumed run ended with different dev scores")
PY
