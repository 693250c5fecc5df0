"""The performance harness in benchmarks/ runs and reports its fields (on the tiny random BERT).

Speed itself is never asserted here: these only check that each script runs end to end for a
couple of steps and returns/prints/writes what benchmarks/README.md describes.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from mtlib.model.cpu_kind import auto_choice

pytestmark = pytest.mark.slow
BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_throughput_runs_both_contenders(tmp_path, real_data_dir, capsys):
    pytest.importorskip("accelerate")  # transformers.Trainer needs it
    out = tmp_path / "train.json"
    bench = load("train_throughput")
    argv = ["--encoder", "tiny-random", "--tasks", "sst", "--steps", "2", "--repeats", "1", "--train-limit", "96", "--dev-limit", "48",
            "--peak-size", "64", "--data-dir", str(real_data_dir), "--out", str(out), "--contenders", "mtlib,trainer,mtlib@auto"]  # fmt: skip
    result = bench.main(argv)
    printed = capsys.readouterr().out
    assert "ratio mtlib/Trainer" in printed and "peak RSS" in printed
    assert {"fp32", "bf16"} <= set(result["peaks"]) and len(result["peaks"]["measurements"]) == 2 and result["peaks"]["fp32"]["gflops"] > 0
    sst = result["summary"]["sst"]
    for contender in ("mtlib", "trainer"):
        s = sst[contender]
        assert s["sentences_per_s_median"] > 0 and s["peak_rss_mb_max"] > 0
        assert all(math.isfinite(v) for v in s["dev_score_runs"])
        assert 0 < s["padding_efficiency"] <= 1 and s["mfu_vs_bf16_peak"] > 0 and s["mfu_vs_fp32_peak"] > 0
    assert sst["ratio_mtlib_over_trainer"] > 0 and "dev_score_delta_mtlib_minus_trainer" in sst
    runs = result["runs"]
    assert [r["contender"] for r in runs] == ["mtlib", "trainer", "mtlib@auto"]  # alternated in the order given
    # a variant runs mtlib under its own --compile (inductor itself is tests/test_compile.py's: it takes a minute here)
    assert runs[0]["compile"] == "off" and runs[2]["compile"] == auto_choice().compile and "mtlib@auto" in sst["ratios_over_trainer"]
    args = bench.parse_args([*argv, "--compile", "default"])
    assert bench.worker_args(args, "mtlib@max-autotune", "sst")[-2:] == ["--compile", "max-autotune"]
    assert bench.worker_args(args, "mtlib", "sst")[-2:] == ["--compile", "default"]
    with pytest.raises(SystemExit, match="unknown contender 'trainer@default'"):
        bench.main([*argv, "--contenders", "trainer@default"])
    assert all(r["steps"] == 2 and r["examples_trained"] == 2 * 32 and r["dev_examples"] == 48 for r in runs)
    assert all(r["dev_metric"] == "accuracy" for r in runs)
    saved = json.loads(out.read_text())
    assert saved["summary"]["sst"]["ratio_mtlib_over_trainer"] == pytest.approx(sst["ratio_mtlib_over_trainer"])
    assert saved["settings"]["amp"] == "bf16" and saved["settings"]["batch_size"] == 32 and saved["settings"]["max_length"] == 128


def test_profile_step_splits_an_update_into_op_kinds(tmp_path, real_data_dir):
    out = tmp_path / "profile.json"
    argv = ["--encoder", "tiny-random", "--steps", "4", "--train-limit", "96", "--peak-size", "64", "--rows", "12",
            "--data-dir", str(real_data_dir), "--out", str(out)]  # fmt: skip
    result = load("profile_step").main(argv)
    assert result["profiled_updates"] == 2 and result["examples"] == 2 * 32
    kinds = result["kinds"]
    assert {"matmul", "outside ops"} <= set(kinds) and kinds["matmul"]["ms"] > 0
    assert sum(k["share"] for k in kinds.values()) == pytest.approx(1.0, abs=0.02) or kinds["outside ops"]["ms"] == 0
    assert len(result["rows"]) == 12 and all(r["self_ms"] >= 0 and r["calls"] > 0 for r in result["rows"])
    assert json.loads(out.read_text())["precision"] == "off" and "Self CPU" in out.with_suffix(".txt").read_text()


def test_predict_throughput_reports_both_contenders(tmp_path, real_data_dir, capsys):
    pytest.importorskip("accelerate")
    out = tmp_path / "predict.json"
    argv = ["--encoder", "tiny-random", "--tasks", "sst,sts", "--repeats", "1", "--limit", "40", "--batch-size", "16", "--amp", "off",
            "--levers", "--data-dir", str(real_data_dir), "--out", str(out)]  # fmt: skip
    result = load("predict_throughput").main(argv)
    printed = capsys.readouterr().out
    assert "sentences/s" in printed
    for task in ("sst", "sts"):
        per = result["summary"][task]
        assert per["mtlib"]["sentences_per_s_median"] > 0 and per["trainer"]["sentences_per_s_median"] > 0
        assert per["ratio_mtlib_over_trainer"] > 0
    assert {lv["variant"] for lv in result["levers"]} >= {"dataset order instead of sorted", "no_grad instead of inference_mode"}
    assert json.loads(out.read_text())["peak_rss_mb_process"] > 0


def test_scaling_reports_every_part(tmp_path, capsys):
    out = tmp_path / "scaling.json"
    argv = ["--encoder", "tiny-random", "--amp", "off", "--steps", "1", "--lengths", "8,16", "--batch-sizes", "2,4", "--batch-size", "4",
            "--length", "8", "--proj-batch", "2", "--amp-lever-batch", "2", "--amp-lever-length", "8", "--projections", "none,pcgrad,vaccine,upgrad", "--peak-size", "64", "--out", str(out)]  # fmt: skip
    result = load("scaling").main(argv)
    res = result["results"]
    assert [r["length"] for r in res["length"]] == [8, 16] and [r["batch_size"] for r in res["batch"]] == [2, 4]
    assert all(r["seconds_per_update"] > 0 and r["mfu_vs_fp32_peak"] > 0 for r in res["length"] + res["batch"])
    proj = {r["projection"]: r for r in res["projection"]}
    assert set(proj) == {"none", "pcgrad", "vaccine", "upgrad"} and proj["none"]["ratio_ms_per_example_vs_none"] == 1.0
    assert all(r["examples_per_update"] == 3 * 2 for r in proj.values())  # one batch of each of the three tasks
    assert [r["use_pal"] for r in res["pal"]] == [False, True] and res["pal"][1]["ratio_ms_per_example_vs_no_pal"] > 0
    assert {"baseline", "eager_attention", "amp", "adamw"} <= set(res["levers"])
    assert "MFU fp32" in capsys.readouterr().out
    assert json.loads(out.read_text())["peaks"]["bf16"]["gflops"] > 0


def test_eval_batch_size_times_every_dev_set_at_every_size(tmp_path, real_data_dir, capsys):
    out = tmp_path / "eval.json"
    result = load("eval_batch_size").main(
        ["--profile", "smoke", "--batch-sizes", "32,8", "--data-dir", str(real_data_dir), "--out", str(out)]
    )
    assert [(r["task"], r["batch_size"]) for r in result["rows"]] == [(t, b) for t in ("sst", "para", "sts") for b in (32, 8)]
    assert all(r["rows"] == 40 and r["seconds"] >= 0 for r in result["rows"])  # a fast CPU rounds a pass to 0.00 s
    assert set(json.loads(out.read_text())["total_seconds"]) == {"32", "8"}
    assert "all three dev sets: batch 32:" in capsys.readouterr().out


def test_gpu_bench_runs_its_rows_on_a_cpu(tmp_path, real_data_dir, monkeypatch):
    """benchmarks/gpu_bench.py's rows (mtlib, Trainer, prediction) on the tiny BERT and the CPU."""
    pytest.importorskip("accelerate")
    monkeypatch.setenv("MTLIB_DATA_DIR", str(real_data_dir))
    out, md = tmp_path / "gpu.json", tmp_path / "gpu.md"
    argv = ["--device", "cpu", "--encoder", "tiny=tiny-random", "--steps", "2", "--warmup", "1", "--amps", "off", "--compiles", "off",
            "--trainer-amps", "off", "--predict", "off:off", "--predict-rows", "64", "--peak-size", "64", "--out", str(out), "--md", str(md)]  # fmt: skip
    result = load("gpu_bench").main(argv)
    rows = {r["contender"]: r for r in result["rows"]}
    assert set(rows) == {"mtlib", "trainer", "mtlib predict"} and not any("error" in r for r in result["rows"])
    assert rows["mtlib"]["updates_timed"] == 2 and rows["trainer"]["updates_timed"] == 2 and rows["mtlib predict"]["sentences"] == 64
    assert all(r["sentences_per_s"] > 0 and r["tflop_per_s"] > 0 for r in result["rows"])
    assert json.loads(out.read_text())["rows"] == json.loads(json.dumps(result["rows"]))
    assert "| tiny | mtlib | off | off |" in md.read_text()


def test_the_gpu_batch_plumbing_runs_every_phase_on_a_cpu(tmp_path, real_data_dir):
    """`DRY=1 bash benchmarks/gpu_batch.sh`: every phase of the one prepared GPU command (preflight,
    bench, the gpu profile, the reference profile) runs on the CPU with the tiny model (the gpu
    profile once: both its encoders are the tiny model here), and the pack holds each run's records."""
    import os
    import subprocess
    import tarfile

    out, logs, runs = tmp_path / "out", tmp_path / "logs", tmp_path / "runs"
    env = {**os.environ, "DRY": "1", "OUT": str(out), "LOGS": str(logs), "RUNS": str(runs), "PY": sys.executable}
    env["MTLIB_DATA_DIR"] = str(real_data_dir)
    done = subprocess.run(
        ["bash", str(BENCH / "gpu_batch.sh")], cwd=BENCH.parent, env=env, capture_output=True, text=True, timeout=3600
    )  # a hang, not a slow CPU
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed[-3000:]
    for phase in ("setup", "bench", "search", "profile", "reference", "pack", "done"):
        assert f"== {phase} at" in printed, phase
    for run in ("gpu-profile-minilm", "reference-profile-minilm-reduce-overhead"):
        assert f"{run} rc=0" in printed, run
    with tarfile.open(out / "runs.tgz") as pack:
        names = pack.getnames()
    assert {f"runs/{run}/results.json" for run in ("preflight", "gpu-profile-minilm", "reference-profile-minilm-reduce-overhead")} <= set(
        names
    )
    assert json.loads((out / "gpu_bench_base.json").read_text())["rows"]
