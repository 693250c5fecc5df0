#!/usr/bin/env bash
# The equal-minutes front (docs/results.md, "For your minutes"): single-task Trainer runs sized to
# a budget of CPU minutes against mtlib's workbook, each run alone on the machine, recorded into
# results/ as it finishes, so a front stopped half way keeps what it measured. Run it on an idle
# machine (nothing else on the cores: the minutes are the measurement), from the repository root:
#
#   MTLIB_DATA_DIR=data bash benchmarks/front.sh            # then: make results
#
# A run whose results.json exists is skipped, so the same command continues a stopped front.
# PLAN is the order (the most telling points first), one `kind:what:seed` per word:
#   trainer:M:S   benchmarks/baselines.py trainer --minutes M --seed S
#   mtlib:P:S     make workbook with profile P (a name or a YAML path) and seed S
# The front past 12 minutes (issue 38; about 9 hours alone on the AVX512-BF16 EPYC, more on AVX2):
#   PLAN="$(cat benchmarks/front_past_12.plan)" MTLIB_DATA_DIR=data bash benchmarks/front.sh
set -euo pipefail
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-runs/front}
PLAN=${PLAN:-"trainer:5:0 mtlib:cpu:0 trainer:10:0 trainer:5:1 mtlib:cpu:1 trainer:20:0 trainer:10:1 trainer:5:2 mtlib:results/candidates/cpu-150.yaml:0"}
mkdir -p "$RUNS"
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
caps=$($PY -c "import torch; print(torch.backends.cpu.get_cpu_capability())")
echo "front on: $cpu ($caps), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
record() { $PY -m mtlib results --record "$@"; }

for step in $PLAN; do
  IFS=: read -r kind what seed <<<"$step"
  case $kind in
    trainer)
      run="$RUNS/trainer-${what}min-s$seed"
      if [ ! -f "$run/results.json" ]; then
        $PY benchmarks/baselines.py trainer --task all --minutes "$what" --seed "$seed" --out "$run"
      fi
      record "$run" --group "single-task Trainer, ${what}-minute budget, $cpu $caps" \
        --label "single-task Trainer sized to ${what} CPU minutes for all three tasks (benchmarks/baselines.py trainer --minutes $what)" ;;
    mtlib)
      name=$(basename "$what" .yaml)
      run="$RUNS/mtlib-$name-s$seed"
      if [ ! -f "$run/results.json" ]; then
        $PY -m mtlib.workbook --profile "$what" --run "$(basename "$run")" --runs_dir "$RUNS" -p seed="$seed" --quiet
      fi
      record "$run" --group "$name profile, $cpu $caps" --label "make workbook PROFILE=$what, seed $seed" ;;
    *) echo "front.sh: unknown step '$step' (trainer:M:S or mtlib:PROFILE:S)" >&2; exit 2 ;;
  esac
  echo "$(date +%H:%M:%S) done $step; load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
