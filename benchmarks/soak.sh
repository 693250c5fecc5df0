#!/usr/bin/env bash
# Soak test (not part of CI): a smoke workbook killed at random moments, its kernel killed, and a
# training run whose disk fills during a checkpoint save; each is continued the way its message
# says, and each must end bit for bit like an uninterrupted run.
#   bash benchmarks/soak.sh 2>&1 | tee benchmarks/results/soak.txt     # about 15 minutes on 2 cores
#   KILLS=2 bash benchmarks/soak.sh                                    # a shorter one
# Parts (each prints one line per event, then its comparison; the script exits non-zero at the
# first mismatch or unexpected exit code):
#   1. `python -m mtlib.workbook --profile smoke`, uninterrupted, then KILLS times SIGKILLed (the
#      workbook and its kernel, as a machine that goes down) at a uniformly random moment of its
#      run time, each time rerun with the same command;
#   2. the same workbook with only its kernel SIGKILLed: exit 3 and "run the same command again",
#      then the same command;
#   3. `python -m mtlib` with the disk filling at its second state save (ENOSPC injected into the
#      safetensors write, as a full tmpfs gives it): exit 3 and "--resume RUN", then that resume.
# "Bit for bit": the same dev scores in results.json and, in every stage's model.safetensors, the
# same bytes of each tensor and the same metadata (not the same file bytes: safetensors writes the
# metadata's keys in an order that changes from process to process).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/soak-$(date +%Y%m%d-%H%M%S)}
KILLS=${KILLS:-5}
DATA=${MTLIB_DATA_DIR:-data}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
echo "soak: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), KILLS=$KILLS, into $OUT"

workbook() {  # workbook RUN: the smoke workbook into $OUT/RUN, (its kernel is a child process)
  "$PY" -m mtlib.workbook --profile smoke --run "$1" --runs_dir "$OUT" --data_dir "$DATA" --quiet >> "$OUT/$1.log" 2>&1
}

tree() {  # tree PID: PID and all its descendants
  local pid=$1 child
  echo "$pid"
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do tree "$child"; done
}

same() {  # same A B: the same dev scores and the same weights of every stage
  "$PY" - "$1" "$2" <<'PY'
import hashlib, json, sys
from pathlib import Path
a, b = (Path(p) for p in sys.argv[1:])
import torch
from safetensors import safe_open
def weights(path):  # each tensor's bytes, and the metadata (whose order in the header safetensors does not fix)
    with safe_open(str(path), "pt") as f:
        raw = {k: f.get_tensor(k).contiguous().view(-1).view(torch.uint8).numpy().tobytes() for k in f.keys()}
        return f.metadata(), {k: hashlib.sha256(v).hexdigest() for k, v in raw.items()}
def stages(run):
    return {p.parent.relative_to(run).as_posix(): weights(p) for p in sorted(run.rglob("model.safetensors"))}
ra, rb = (json.loads((r / "results.json").read_text()) for r in (a, b))
print(f"  {a.name}: dev {ra['dev']}")
print(f"  {b.name}: dev {rb['dev']}")
wa, wb = stages(a), stages(b)
print(f"  {len(wa)} model.safetensors compared: {'the same tensors, bit for bit' if wa == wb else 'DIFFERENT'}")
sys.exit(0 if ra["dev"] == rb["dev"] and wa == wb else f"MISMATCH between {a} and {b}")
PY
}

# ---- 1. the workbook, SIGKILLed at random moments ------------------------------------------------
echo "1. uninterrupted smoke workbook -> $OUT/full"
start=$SECONDS
workbook full
span=$(( SECONDS - start > 4 ? SECONDS - start : 4 ))
echo "   done in ${span}s"
for i in $(seq 1 "$KILLS"); do
  workbook killed &
  pid=$!
  wait_s=$(( 2 + RANDOM % (span - 1) ))
  for _ in $(seq 1 $(( wait_s * 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" || { echo "kill $i: the workbook exited non-zero before the kill (see $OUT/killed.log)"; exit 1; }
    echo "kill $i: the workbook finished before ${wait_s}s; no kill"
    break
  fi
  pids=$(tree "$pid")
  kill -9 $pids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "kill $i: SIGKILL of the workbook and its kernel after ${wait_s}s ($(ls "$OUT/killed/stages" 2>/dev/null | tr '\n' ' '))"
done
if [ ! -f "$OUT/killed/results.json" ]; then
  echo "   the same command again, to the end"
  workbook killed || { echo "the rerun failed (see $OUT/killed.log)"; exit 1; }
fi
same "$OUT/full" "$OUT/killed"

# ---- 2. the workbook's kernel killed -------------------------------------------------------------
echo "2. smoke workbook, its kernel SIGKILLed -> $OUT/kernel"
workbook kernel &
pid=$!
wait_s=$(( 2 + RANDOM % (span - 1) ))
sleep "$wait_s"
kernel=""
while kill -0 "$pid" 2>/dev/null; do  # the kernel of the notebook running now (none between notebooks)
  kernel=$(for p in $(tree "$pid"); do grep -l ipykernel "/proc/$p/cmdline" 2>/dev/null | cut -d/ -f3; done | head -1)
  [ -n "$kernel" ] && break
  sleep 0.2
done
[ -n "$kernel" ] || { echo "the workbook ended before a kernel could be killed"; exit 1; }
kill -9 "$kernel"
rc=0
wait "$pid" || rc=$?
last=$(tail -1 "$OUT/kernel.log")
echo "   kernel $kernel SIGKILLed after ${wait_s}s: exit $rc: $last"
[ "$rc" = 3 ] && grep -q "run the same command again" <<< "$last" || { echo "expected exit 3 and 'run the same command again'"; exit 1; }
workbook kernel || { echo "the rerun failed (see $OUT/kernel.log)"; exit 1; }
same "$OUT/full" "$OUT/kernel"

# ---- 3. the disk fills during a checkpoint save --------------------------------------------------
echo "3. a training run whose disk fills at its second state save -> $OUT/disk"
ARGS=(--encoder tiny-random --data_dir "$DATA" --device cpu --max_length 32 --batch_size 8 --max_train_examples 64
      --max_eval_examples 32 --epochs 3 --updates_per_epoch 4 --lr 1e-3 --threads 1 --no-progress)
"$PY" -m mtlib "${ARGS[@]}" --save_path "$OUT/disk-full" > "$OUT/disk.log" 2>&1
rc=0
"$PY" - "${ARGS[@]}" --save_path "$OUT/disk" 2>> "$OUT/disk.log" <<'PY' || rc=$?
import errno, os, sys
from pathlib import Path
import mtlib.store.checkpoints as checkpoints
from mtlib.__main__ import main
real, saves = checkpoints.save_file, []
def save_file(tensors, filename, metadata=None):  # the second state save finds the disk full
    if Path(filename).parent.name == "state.new":
        saves.append(filename)
        if len(saves) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
    return real(tensors, filename, metadata=metadata)
checkpoints.save_file = save_file
sys.exit(main(sys.argv[1:]))
PY
last=$(tail -1 "$OUT/disk.log")
echo "   exit $rc: $last"
[ "$rc" = 3 ] && grep -q -- "--resume $OUT/disk" <<< "$last" || { echo "expected exit 3 and '--resume $OUT/disk'"; exit 1; }
"$PY" -m mtlib --resume "$OUT/disk" --no-progress >> "$OUT/disk.log" 2>&1
same "$OUT/disk-full" "$OUT/disk"
echo "soak passed"
