#!/usr/bin/env bash
# One device session's batch of runs on a single CUDA GPU (the H100 lent through the `device`
# tool), in one command: the CPU recipes' seeds, ablations and single-task Trainer baselines, run side
# by side on the one GPU (one CPU thread each), plus a throughput figure per precision.
#
#   bash benchmarks/gpu_batch.sh            # from the repository root, on the GPU machine
#
# It expects what the device tool carries: the data files in data/, the packaged encoder as
# .gpu/minilm/ (config, tokenizer, weights stored in fp16 to fit the transfer limit, widened
# back to fp32 here) and the torchjd wheel in .gpu/whl/. Results go to $OUT (runs.tgz holds
# every run folder's records and dev predictions, without weights, state or TensorBoard
# events; logs.tgz the logs). BATCH=2 runs the second batch; SKIP_CHECKS=1 skips the preflight
# and throughput steps.
#
# The mtlib runs use fp32 (`amp=off`), as on a CPU without native bf16, so their scores stand
# for the CPU profiles' recipe; only their wall times are the GPU's. The Trainer baselines use
# bf16, as benchmarks/baselines.py's docstring specifies.
set -u
OUT=${OUT:-/tmp/gpu-out}
DEADLINE=${DEADLINE:-540}  # seconds for the parallel phase
mkdir -p "$OUT" /tmp/logs /tmp/runs
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export MTLIB_DATA_DIR=$PWD/data MTLIB_RUNS=/tmp/runs
ENC=/tmp/minilm

# ---- set-up, failing fast --------------------------------------------------------------------
set -e
python3 -m pip install -q --upgrade --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'EOF'
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
print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.get_device_name())
EOF
[ -n "${SKIP_CHECKS:-}" ] || python3 -m mtlib.recipe --profile smoke --run preflight --set encoder=$ENC --set device=cuda > /tmp/logs/preflight.log 2>&1 \
  || { tail -30 /tmp/logs/preflight.log; exit 3; }
[ -n "${SKIP_CHECKS:-}" ] || python3 benchmarks/baselines.py trainer --task sst --encoder $ENC --epochs 1 --train_limit 64 --dev_limit 64 --out /tmp/runs/preflight-trainer > /tmp/logs/preflight-trainer.log 2>&1 \
  || { tail -30 /tmp/logs/preflight-trainer.log; exit 3; }
echo "preflight ok at ${SECONDS}s"
set +e

# ---- throughput, alone on the GPU ------------------------------------------------------------
if [ -z "${SKIP_CHECKS:-}" ]; then
  python3 benchmarks/gpu_throughput.py --encoder $ENC --steps 120 --out "$OUT/gpu_throughput.json" > /tmp/logs/throughput.log 2>&1
  tail -25 /tmp/logs/throughput.log
fi

# ---- everything else side by side ------------------------------------------------------------
# CUDA MPS lets the processes' kernels share the GPU instead of time-slicing it; where the
# daemon does not start (or CUDA fails under it), it is stopped and the runs share without it.
if nvidia-cuda-mps-control -d 2>/dev/null && timeout 60 python3 -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
  echo "MPS on"
else
  echo quit | nvidia-cuda-mps-control 2>/dev/null; echo "MPS off"
fi
launch() {
  local name=$1; shift
  ( "$@" > "/tmp/logs/$name.log" 2>&1; echo "$name rc=$? at ${SECONDS}s" >> /tmp/logs/done.txt ) &
}
recipe() {  # recipe NAME PROFILE [--set ...]
  local name=$1 profile=$2; shift 2
  launch "$name" python3 -m mtlib.recipe --profile "$profile" --run "$name" --set encoder=$ENC --set amp=off --set threads=1 "$@"
}
batch1() {  # the first session's batch: baselines, cpu-full candidates x 3 seeds, cpu ablations
  [ -n "${SKIP_BASELINES:-}" ] || launch zero-shot python3 benchmarks/baselines.py zero-shot --encoder $ENC --threads 1 --out /tmp/runs/baseline-zero-shot-gpu
  for task in ${SKIP_BASELINES:+none} sst sts para; do
    [ "$task" = none ] && break
    launch "baseline-$task" python3 benchmarks/baselines.py trainer --task $task --encoder $ENC --threads 1 --out /tmp/runs/baseline-trainer-gpu
  done
  for s in 0 1 2; do
    recipe "gpu-cpu-full-s$s" cpu-full --set seed=$s
    recipe "gpu-cpu-full-lr1e-4-s$s" cpu-full --set seed=$s --set finetune_pal.lr=1e-4
  done
  recipe gpu-cpu-full-cross-s0 cpu-full --set pair_encoding=cross
  for s in 0 1 2; do
    recipe "gpu-cpu-s$s" cpu --set seed=$s
  done
  recipe gpu-cpu-abl-round-robin cpu --set finetune_pal.task_scheduler=round_robin
  recipe gpu-cpu-abl-proj-none cpu --set finetune_vaccine.projection=none
  recipe gpu-cpu-abl-pcgrad cpu --set finetune_vaccine.projection=pcgrad
  recipe gpu-cpu-abl-no-pal cpu --set finetune_vaccine.use_pal=false
  recipe gpu-cpu-abl-cross cpu --set pair_encoding=cross
}
batch2() {  # the second batch, chosen from the first one's dev scores: per-task pair encoding
  for s in 0 1 2; do
    recipe "gpu-cpu-full-hybrid-s$s" cpu-full --set seed=$s --set pair_encoding=para=cross,sts=bi
    recipe "gpu-cpu-full-hybrid-prop-s$s" cpu-full --set seed=$s --set pair_encoding=para=cross,sts=bi --set finetune_pal.task_scheduler=proportional
  done
  for s in 1 2; do
    recipe "gpu-cpu-full-cross-s$s" cpu-full --set seed=$s --set pair_encoding=cross
  done
  recipe gpu-cpu-abl-proj-none cpu --set finetune_vaccine.projection=none --set finetune_vaccine.combine_strategy=none
}
batch${BATCH:-1}

while [ "$(jobs -rp | wc -l)" -gt 0 ] && [ "$SECONDS" -lt "$DEADLINE" ]; do sleep 5; done
echo "parallel phase ended at ${SECONDS}s; still running: $(jobs -rp | wc -l)"
kill $(jobs -rp) 2>/dev/null; sleep 2
cat /tmp/logs/done.txt
nvidia-smi --query-gpu=memory.used --format=csv,noheader
(cd /tmp && find runs \( -name '*.json' -o -name config.yaml -o -name command.txt -o -name metrics.jsonl -o -name report.md -o -name '*dev-output.csv' \) -print | tar czf "$OUT/runs.tgz" -T -)
tar czf "$OUT/logs.tgz" -C /tmp logs
ls -la "$OUT"
