#!/usr/bin/env bash
# How results/*.json were recorded (then `make results` renders the README tables).
# CPU runs are under runs/ (make workbook / benchmarks/baselines.py); the H100 runs of
# benchmarks/gpu_batch.sh came back as runs.tgz and were unpacked into $GPU_RUNS.
set -euo pipefail
GPU_RUNS=${GPU_RUNS:-/tmp/runs}
R="${PYTHON:-.venv/bin/python} -m mtlib.result_tables --record"

$R runs/baseline-zero-shot --group "zero-shot encoder" \
   --label "zero-shot encoder (cosine of mean-pooled embeddings; para threshold from the train part)"
$R "$GPU_RUNS/baseline-trainer-gpu" --group "single-task Trainer" \
   --label "single-task Trainer baselines (the recipe of benchmarks/baselines.py: one model per task, bf16)"
$R runs/cpu-main --group "earlier cpu profile (cross)" --label "earlier cpu profile, all pairs cross-encoded (make workbook)"
# first timing runs of the same training recipes: gradient-conflict probes in stage 2, dev passes
# of 256 rows, the test split predicted after every stage
$R runs/cpu-s0 --group "earlier cpu profile, first run" --label "the cpu profile before 2026-11-27, first timing run (make workbook)"
$R runs/cpu-full-s0 --group "cpu-full profile, first run" --label "cpu-full profile, first timing run (make workbook PROFILE=cpu-full)"
# the profiles as committed
$R runs/cpu-s1 --group "earlier cpu profile (pal, 160 updates)" --label "the cpu profile before 2026-11-27: stage 2 160 updates with the pal schedule (make workbook)"
$R runs/cpu-full-s1 --group "cpu-full profile" --label "cpu-full profile (make workbook PROFILE=cpu-full)"
for s in 0 1 2; do
  $R "$GPU_RUNS/gpu-cpu-full-hybrid-prop-s$s" --group "cpu-full recipe, H100 fp32" --table comparison,candidates
  $R "$GPU_RUNS/gpu-cpu-s$s" --group "cpu recipe, H100 fp32" --table comparison,ablation
  $R "$GPU_RUNS/gpu-cpu-full-s$s" --group "cpu-full: all pairs bi-encoded, pal" --table candidates
  $R "$GPU_RUNS/gpu-cpu-full-lr1e-4-s$s" --group "cpu-full: all pairs bi-encoded, pal, stage-2 lr 1e-4" --table candidates
  $R "$GPU_RUNS/gpu-cpu-full-cross-s$s" --group "cpu-full: all pairs cross-encoded, pal" --table candidates
  $R "$GPU_RUNS/gpu-cpu-full-hybrid-s$s" --group "cpu-full: para cross, STS bi, pal" --table candidates
done
$R "$GPU_RUNS/gpu-cpu-abl-round-robin" --table ablation --label "stage 2 scheduler round_robin (base: pal)"
$R "$GPU_RUNS/gpu-cpu-abl-proj-none" --table ablation --label "stage 3 projection none (base: vaccine + encourage)"
$R "$GPU_RUNS/gpu-cpu-abl-pcgrad" --table ablation --label "stage 3 projection pcgrad (base: vaccine)"
$R "$GPU_RUNS/gpu-cpu-abl-no-pal" --table ablation --label "stage 3 without PAL (base: PAL on)"
$R "$GPU_RUNS/gpu-cpu-abl-cross" --table ablation --label "pairs cross-encoded (base: bi-encoded)"
# the default's candidates (the cpu recipe reshaped to the 15-minute budget: stage 2 one epoch of N
# batches with the weighted schedule, stage 3 ten updates), H200 fp32, benchmarks/gpu_batch.sh of
# 2026-11-27; unpacked into $GPU_RUNS
Q="--table candidates"
$R "$GPU_RUNS/q-lr5e-5-w111" $Q --group "default: lr 5e-5, sst:para:sts 1:1:1"
$R "$GPU_RUNS/q-lr1e-4-w111" $Q --group "default: lr 1e-4, 1:1:1"
$R "$GPU_RUNS/q-lr1e-4-w211" "$GPU_RUNS/q-lr1e-4-w211-s1" "$GPU_RUNS/q-lr1e-4-w211-s2" $Q --group "default: lr 1e-4, 2:1:1"
$R "$GPU_RUNS/q-lr1e-4-w311" $Q --group "default: lr 1e-4, 3:1:1"
$R "$GPU_RUNS/q-lr2e-4-w211" $Q --group "default: lr 2e-4, 2:1:1"
$R "$GPU_RUNS/q-lr1e-4-w211-head1e-3" $Q --group "default: lr 1e-4, 2:1:1, head lr 1e-3"
$R "$GPU_RUNS/q-lr1e-4-w211-bal" $Q --group "default: lr 1e-4, 2:1:1, class-balanced"
$R "$GPU_RUNS/q-lr1e-4-w211-bal-head" "$GPU_RUNS/q-lr1e-4-w211-bal-head-s1" "$GPU_RUNS/q-lr1e-4-w211-bal-head-s2" $Q \
   --group "default: lr 1e-4, 2:1:1, class-balanced, head lr 1e-3"
$R "$GPU_RUNS/q-lr1e-4-w211-ls" $Q --group "default: lr 1e-4, 2:1:1, label smoothing 0.1"
$R "$GPU_RUNS/q-lr1e-4-w211-hybrid" $Q --group "default: lr 1e-4, 2:1:1, para cross-encoded"
$R "$GPU_RUNS/q-lr1e-4-w211-n400" $Q --group "default: lr 1e-4, 2:1:1, 400 batches"
$R "$GPU_RUNS/q-lr1e-4-w211-s3none" $Q --group "default: lr 1e-4, 2:1:1, stage 3 without projection"
# the cpu profile as committed on 2026-11-27 (stage 2: 300 batches, weighted 2:1:1, class-balanced SST, head lr 1e-3):
# cpu-v2-t0 is its timing run (alone on the machine); seeds 1 and 2 ran on 2026-11-28 (seed 1 shared
# the cores with a test run for its first minutes)
G300="cpu profile, stage 2 300 batches (2026-11-27)"
$R runs/cpu-v2-t0 --group "$G300" --table comparison,candidates --label "cpu profile with stage 2 at 300 batches (make workbook)"
$R runs/cpu-v2-s1 --group "$G300" --table comparison,candidates --label "cpu profile with stage 2 at 300 batches (make workbook SEED=n)" --shared_cores
$R runs/cpu-v2-s2 --group "$G300" --table comparison,candidates --label "cpu profile with stage 2 at 300 batches (make workbook SEED=n)"
# the cpu profile as committed on 2026-11-28: the same with stage 2 at 450 batches, run while it was the candidate
# results/candidates/cpu-450.yaml (the same settings; tests/test_results.py checks it); cpu-450-s0
# shared the cores with a test run for its first minutes, s1 and s2 ran alone
L450="cpu profile (make workbook PROFILE=results/candidates/cpu-450.yaml SEED=n, now make workbook SEED=n)"
$R runs/cpu-450-s0 --group "cpu profile" --table comparison,candidates --label "$L450" --shared_cores
$R runs/cpu-450-s1 runs/cpu-450-s2 --group "cpu profile" --table comparison,candidates --label "$L450"
