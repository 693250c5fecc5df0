#!/usr/bin/env bash
# Issue 38's measurements on this machine's kind of CPU (mtlib.model.cpu_kind: avx2, avx512,
# avx512-bf16, amx-bf16), one after another, alone on the machine (nothing else on the cores: the
# records are the measurement). From the repository root, with the task files in data/:
#
#   MTLIB_DATA_DIR=data bash benchmarks/cpu_kind_batch.sh        # about 40 minutes on a 2-core AVX2 EPYC
#   make results                                                  # docs/performance.md's rows from the records
#
# Written to benchmarks/results/ (KIND: this CPU's kind, PREC: the precision --amp auto picks):
#   profile_KIND_PREC_eager.json/.txt, profile_KIND_PREC_compiled.json/.txt   where an update's time goes
#   train_compile_KIND_PREC.json     mtlib eager, mtlib compiled (inductor) and Trainer, alternated, 2 repeats
#   train_KIND_fp32.json             on a bf16 kind also mtlib and Trainer in fp32: is bf16 the faster there?
#   predict_KIND_PREC.json, predict_KIND_PREC_compiled.json   prediction, mtlib against Trainer
# mtlib.model.cpu_kind.AUTO then names the record its choice follows (tests/test_cpu_kind.py checks it).
# STEPS, REPEATS and ONLY (a space-separated subset of: profile train predict) shorten it.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-benchmarks/results}
STEPS=${STEPS:-60}
REPEATS=${REPEATS:-2}
ONLY=${ONLY:-"profile train predict"}
kind=$($PY -c "from mtlib.model.cpu_kind import cpu_kind; print(cpu_kind().lower())")
amp=$($PY -c "import torch; from mtlib.model.amp import cpu_has_fast_bf16; print('bf16' if cpu_has_fast_bf16() else 'off')")
prec=$([ "$amp" = bf16 ] && echo bf16 || echo fp32)
echo "$(date +%H:%M:%S) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) kind $kind, $prec; load average $(cut -d' ' -f1-3 /proc/loadavg)"
wants() { [[ " $ONLY " == *" $1 "* ]]; }

if wants profile; then
  $PY benchmarks/profile_step.py --amp "$amp" --steps 12 --out "$OUT/profile_${kind}_${prec}_eager.json"
  $PY benchmarks/profile_step.py --amp "$amp" --compile default --skip 8 --steps 20 --out "$OUT/profile_${kind}_${prec}_compiled.json"
fi
if wants train; then
  $PY benchmarks/train_throughput.py --amp "$amp" --steps "$STEPS" --skip 10 --repeats "$REPEATS" \
    --contenders mtlib,mtlib@default,trainer --out "$OUT/train_compile_${kind}_${prec}.json"
  if [ "$amp" = bf16 ]; then
    $PY benchmarks/train_throughput.py --amp off --steps "$STEPS" --skip 10 --repeats "$REPEATS" --out "$OUT/train_${kind}_fp32.json"
  fi
fi
if wants predict; then
  $PY benchmarks/predict_throughput.py --amp "$amp" --repeats "$REPEATS" --out "$OUT/predict_${kind}_${prec}.json"
  $PY benchmarks/predict_throughput.py --amp "$amp" --repeats "$REPEATS" --compile default --out "$OUT/predict_${kind}_${prec}_compiled.json"
fi
echo "$(date +%H:%M:%S) done; load average $(cut -d' ' -f1-3 /proc/loadavg)"
