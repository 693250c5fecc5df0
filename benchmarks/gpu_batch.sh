#!/usr/bin/env bash
# One device session's GPU work (one lent H100/H200, about 15 minutes with start-up), as one
# command that finishes within ~11 minutes:
#
#   bash benchmarks/gpu_batch.sh          # from the repository root, on the GPU machine
#
# 1. set-up and a preflight (the smoke profile on CUDA), failing fast;
# 2. benchmarks/gpu_bench.py alone on the GPU: mtlib against transformers.Trainer, MiniLM and
#    the bert-base shape, each precision, compile off / default / reduce-overhead, prediction;
# 3. with SEARCH=1 only, the default's candidates (the `cpu` profile's recipe with other settings,
#    fp32 as on a CPU without native bf16, one CPU thread each) side by side on the GPU: their dev
#    scores chose what the CPU then confirmed; only their scores carry over, not their times;
# 4. the `gpu` profile on the GPU with AMP and --compile auto, every stage and the test stage,
#    epochs capped at one per stage, with MiniLM and then the bert-base shape (times only);
# 5. the `reference` profile with MiniLM and --compile reduce-overhead, stages cut short: the
#    accumulation that broke CUDA graphs on the H200 (mtlib.model.compiling), trained end to end.
#
# It expects what the device tool carries: the data files in data/, the packaged encoder as
# .gpu/minilm/ (config, tokenizer, weights in fp16 to fit the transfer limit, widened back to
# fp32 here) and the torchjd wheel in .gpu/whl/ (benchmarks/README.md says how to make them).
# Everything lands in $OUT: gpu_bench.{json,md}, runs.tgz (each run's records and dev
# predictions, no weights), logs.tgz. Each phase has a deadline; a phase cut short keeps what
# it wrote. DRY=1 runs every phase in seconds on a CPU with the tiny random BERT (the test does).
set -u
OUT=${OUT:-/tmp/gpu-out} LOGS=${LOGS:-/tmp/logs} RUNS=${RUNS:-/tmp/runs}
T0=$SECONDS
mkdir -p "$OUT" "$LOGS" "$RUNS"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export MTLIB_DATA_DIR=${MTLIB_DATA_DIR:-$PWD/data} MTLIB_RUNS=$RUNS
ENC=/tmp/minilm BASE=/tmp/bert-base-shape DEVICE=cuda
BENCH_S=${BENCH_S:-230} SEARCH_S=${SEARCH_S:-170} PROFILE_S=${PROFILE_S:-140} REFERENCE_S=${REFERENCE_S:-100} PREFLIGHT_S=120
PY=${PY:-python3}
if [ -n "${DRY:-}" ]; then  # the plumbing only: tiny model, CPU, a few updates
  ENC=tiny-random BASE=tiny-random DEVICE=cpu BENCH_S=900 SEARCH_S=900 PROFILE_S=900 REFERENCE_S=900 PREFLIGHT_S=900  # deadlines never cut the plumbing, however slow the CPU
fi
phase() { echo "== $1 at $((SECONDS - T0)) s"; }

# ---- 1. set-up, failing fast ------------------------------------------------------------------
phase setup
set -e
if [ -z "${DRY:-}" ]; then
  $PY -m pip install -q --upgrade --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY - <<'EOF'
import shutil, torch, transformers
from pathlib import Path
from safetensors.torch import load_file, save_file
src, dst = Path(".gpu/minilm"), Path("/tmp/minilm")
dst.mkdir(exist_ok=True)
for f in src.iterdir():
    if f.suffix != ".safetensors":
        shutil.copy(f, dst / f.name)
sd = load_file(src / "model.fp16.safetensors")
save_file({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}, dst / "model.safetensors")
import sys; sys.path.insert(0, ".")
from benchmarks.gpu_bench import build_shape
build_shape("/tmp/minilm", Path("/tmp/bert-base-shape"))
print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.get_device_name())
EOF
fi
timeout $PREFLIGHT_S $PY -m mtlib recipe --profile smoke --run preflight --set encoder=$ENC --set device=$DEVICE > $LOGS/preflight.log 2>&1 \
  || { tail -30 $LOGS/preflight.log; cp $LOGS/preflight.log "$OUT/"; exit 3; }
set +e

# ---- 2. the benchmark, alone on the GPU ---------------------------------------------------------
phase bench
if [ -n "${DRY:-}" ]; then
  BENCH_ARGS="--device cpu --encoder tiny=tiny-random --steps 2 --warmup 1 --amps off --compiles off --trainer-amps off --predict off:off --predict-rows 64 --peak-size 64"
else
  BENCH_ARGS="--encoder bert-base-shape=$BASE --steps 100 --warmup 20"
fi
# bert-base shape: every row; MiniLM: the rows its target needs
OMP_NUM_THREADS=4 timeout $((BENCH_S * 2 / 3)) $PY benchmarks/gpu_bench.py $BENCH_ARGS --out "$OUT/gpu_bench_base.json" --md "$OUT/gpu_bench_base.md" > $LOGS/gpu_bench_base.log 2>&1
echo "bench (bert-base shape) rc=$?"; tail -14 $LOGS/gpu_bench_base.log
if [ -z "${DRY:-}" ]; then
  OMP_NUM_THREADS=4 timeout $((BENCH_S / 3)) $PY benchmarks/gpu_bench.py --encoder minilm=$ENC --steps 100 --warmup 20 --amps off,bf16 \
    --compiles off,reduce-overhead --trainer-amps bf16 --predict bf16:reduce-overhead --peak-size 4096 \
    --out "$OUT/gpu_bench_minilm.json" --md "$OUT/gpu_bench_minilm.md" > $LOGS/gpu_bench_minilm.log 2>&1
  echo "bench (MiniLM) rc=$?"; tail -9 $LOGS/gpu_bench_minilm.log
fi

# ---- 3. the default's candidates, side by side (SEARCH=1: they chose the cpu profile of 2026-11-27) ----
phase search
if [ -n "${SEARCH:-}" ]; then
if [ -z "${DRY:-}" ] && nvidia-cuda-mps-control -d 2>/dev/null && timeout 60 $PY -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
  echo "MPS on"
else
  echo quit | nvidia-cuda-mps-control 2>/dev/null; echo "MPS off"
fi
launch() {
  local name=$1; shift
  ( OMP_NUM_THREADS=1 "$@" > "$LOGS/$name.log" 2>&1; echo "$name rc=$? at $((SECONDS - T0))s" >> $LOGS/done.txt ) &
}
candidate() {  # candidate NAME [--set ...]: the cpu profile's recipe with these settings
  local name=$1; shift
  launch "$name" timeout -k 5 $SEARCH_S $PY -m mtlib recipe --profile cpu --run "$name" --set encoder=$ENC --set device=$DEVICE \
    --set amp=off --set threads=1 "$@" ${DRY:+--set max_train_examples=40 --set individual_pretrain.max_train_examples=40 \
    --set max_eval_examples=40 --set finetune_pal.num_batches_per_epoch=4 --set finetune_vaccine.updates_per_epoch=2}
}
# the shape of the 15-minute budget: stage 2 as one epoch of N batches (one dev pass, not two),
# stage 3 shortened to 10 updates; the rest as the cpu profile
V2="--set finetune_pal.epochs=1 --set finetune_pal.task_scheduler=weighted --set finetune_vaccine.updates_per_epoch=10"
N300="--set finetune_pal.num_batches_per_epoch=300"
W211="--set finetune_pal.schedule_weights=sst=2,para=1,sts=1"
candidate q-lr5e-5-w111 $V2 $N300 --set finetune_pal.lr=5e-5
candidate q-lr1e-4-w111 $V2 $N300 --set finetune_pal.lr=1e-4
candidate q-lr1e-4-w211 $V2 $N300 --set finetune_pal.lr=1e-4 $W211
candidate q-lr1e-4-w311 $V2 $N300 --set finetune_pal.lr=1e-4 --set finetune_pal.schedule_weights=sst=3,para=1,sts=1
candidate q-lr2e-4-w211 $V2 $N300 --set finetune_pal.lr=2e-4 $W211
candidate q-lr1e-4-w211-head1e-3 $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set finetune_pal.head_lr=1e-3
candidate q-lr1e-4-w211-bal $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set finetune_pal.class_balance=true
candidate q-lr1e-4-w211-ls $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set finetune_pal.label_smoothing=0.1
candidate q-lr1e-4-w211-bal-head $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set finetune_pal.class_balance=true --set finetune_pal.head_lr=1e-3
candidate q-lr1e-4-w211-hybrid $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set pair_encoding=para=cross,sts=bi
candidate q-lr1e-4-w211-n400 $V2 --set finetune_pal.num_batches_per_epoch=400 --set finetune_pal.lr=1e-4 $W211
candidate q-lr1e-4-w211-s3none $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set finetune_vaccine.projection=none --set finetune_vaccine.combine_strategy=none
candidate q-lr1e-4-w211-s1 $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set seed=1
candidate q-lr1e-4-w211-s2 $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set seed=2
candidate q-lr1e-4-w211-bal-head-s1 $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set finetune_pal.class_balance=true --set finetune_pal.head_lr=1e-3 --set seed=1
candidate q-lr1e-4-w211-bal-head-s2 $V2 $N300 --set finetune_pal.lr=1e-4 $W211 --set finetune_pal.class_balance=true --set finetune_pal.head_lr=1e-3 --set seed=2
END=$((SECONDS + SEARCH_S))
while [ "$(jobs -rp | wc -l)" -gt 0 ] && [ "$SECONDS" -lt "$END" ]; do sleep 3; done
echo "search ended at $((SECONDS - T0)) s; still running: $(jobs -rp | wc -l)"
pkill -f "mtlib recipe --profile cpu" 2>/dev/null; sleep 2
echo quit | nvidia-cuda-mps-control 2>/dev/null
cat $LOGS/done.txt 2>/dev/null
fi

# ---- 4. the gpu profile, every stage, AMP and compile auto, one epoch per stage -----------------------
phase profile
END=$((SECONDS + PROFILE_S))
if [ -n "${DRY:-}" ]; then PROFILE=smoke PROFILE_SETS="--set compile=off"
else PROFILE=gpu PROFILE_SETS="--set amp=auto --set compile=auto --set individual_pretrain.epochs=1 --set finetune_pal.epochs=1 --set finetune_vaccine.epochs=1"
fi
ENCODERS="minilm:$ENC bert-base-shape:$BASE"
[ -n "${DRY:-}" ] && ENCODERS="minilm:$ENC"  # both are the tiny model in DRY: once is the plumbing
for enc in $ENCODERS; do
  left=$((END - SECONDS)); [ "$left" -gt 20 ] || break
  name="gpu-profile-${enc%%:*}"
  OMP_NUM_THREADS=4 timeout $left $PY -m mtlib recipe --profile $PROFILE --run "$name" --set encoder=${enc#*:} --set device=$DEVICE $PROFILE_SETS \
    > "$LOGS/$name.log" 2>&1
  echo "$name rc=$? at $((SECONDS - T0)) s"; tail -4 "$LOGS/$name.log"
done

# ---- 5. the reference profile with CUDA graphs: micro-batches of 16 accumulate into 32 (issue 28) ------
phase reference
END=$((SECONDS + REFERENCE_S))
if [ -n "${DRY:-}" ]; then PROFILE=smoke REF_SETS="--set compile=off"
else PROFILE=reference REF_SETS="--set compile=reduce-overhead --set individual_pretrain.epochs=1 --set finetune.epochs=1 --set finetune.num_batches_per_epoch=60 --set finetune_vaccine.epochs=1 --set finetune_vaccine.num_batches_per_epoch=120"
fi
name=reference-profile-minilm-reduce-overhead
OMP_NUM_THREADS=4 timeout $((END - SECONDS)) $PY -m mtlib recipe --profile $PROFILE --run "$name" --set encoder=$ENC --set device=$DEVICE $REF_SETS \
  > "$LOGS/$name.log" 2>&1
echo "$name rc=$? at $((SECONDS - T0)) s"; tail -4 "$LOGS/$name.log"

# ---- results ----------------------------------------------------------------------------------------
phase pack
(cd "$(dirname "$RUNS")" && find "$(basename "$RUNS")" \( -name '*.json' -o -name config.yaml -o -name command.txt -o -name metrics.jsonl -o -name report.md -o -name '*dev-output.csv' \) -print | tar czf "$OUT/runs.tgz" -T -)
tar czf "$OUT/logs.tgz" -C "$(dirname "$LOGS")" "$(basename "$LOGS")"
ls -la "$OUT"
phase done
