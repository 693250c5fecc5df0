"""`python -m mtlib sweep` and `make sweep`: recipe runs over a grid and seeds, named from what
they are, each trained once; then their comparison."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import ROOT

from mtlib.util.errors import ConfigError
from mtlib.workbook.training import sweep


def test_runs_are_named_from_profile_point_and_seed():
    grid = sweep.parse_grid(["finetune.lr=2e-5,5e-5", "pair_encoding=cross;para=cross,sts=bi"])
    assert grid == [("finetune.lr", ["2e-5", "5e-5"]), ("pair_encoding", ["cross", "para=cross,sts=bi"])]
    runs = sweep.plan("cpu", [0, 1], grid)
    assert [r.name for r in runs[:2]] == [
        "sweep-cpu-finetune.lr_2e-5-pair_encoding_cross-s0",
        "sweep-cpu-finetune.lr_2e-5-pair_encoding_cross-s1",
    ]
    assert runs[-1].name == "sweep-cpu-finetune.lr_5e-5-pair_encoding_para_cross_sts_bi-s1"
    assert runs[-1].sets == ["finetune.lr=5e-5", "pair_encoding=para=cross,sts=bi", "seed=1"]
    assert len({r.name for r in runs}) == 8 and sweep.plan("cpu", [0, 1], grid) == runs  # the same every time
    assert [r.name for r in sweep.plan("mtlib/profiles/smoke.yaml", [3], [])] == ["sweep-smoke-s3"]
    for bad in (["lr"], ["lr=1,1"], ["lr=1", "lr=2"]):
        with pytest.raises(ConfigError):
            sweep.parse_grid(bad)
    with pytest.raises(ConfigError, match="same run name"):
        sweep.plan("cpu", [0], sweep.parse_grid(["encoder=a/b,a_b"]))


def test_a_sweep_trains_each_run_once_continues_an_unfinished_one_and_compares(tmp_path, real_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("MTLIB_DATA_DIR", str(real_data_dir))
    argv = ["--profile", "smoke", "--seeds", "0", "--grid", "finetune.lr=1e-4,3e-4", "--set", "threads=1"]
    argv += ["--runs_dir", str(tmp_path), "--out", str(tmp_path / "cmp")]
    assert sweep.main(argv) == 0
    names = ["sweep-smoke-finetune.lr_1e-4-s0", "sweep-smoke-finetune.lr_3e-4-s0"]
    said = capsys.readouterr().out
    assert "[sweep] 1/2 sweep-smoke-finetune.lr_1e-4-s0 (finetune.lr=1e-4, seed 0): training" in said and "min left" in said
    for name, lr in zip(names, ("1e-4", "3e-4")):
        results = json.loads((tmp_path / name / "results.json").read_text())
        assert results["settings"] == {"all_stages": {"threads": "1", "seed": "0"}, "finetune": {"lr": lr}}
    compared = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| `finetune.lr` | 0.0001 | 0.0003 |" in compared and (tmp_path / "cmp" / "compare.png").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/**/*") if p.is_file() and "cmp" not in p.parts}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    # the same sweep again: nothing is trained, nothing in the runs is rewritten
    monkeypatch.setattr(sweep, "run_recipe", no_training)
    assert sweep.main(argv) == 0
    assert capsys.readouterr().out.count("finished before, skipped") == 2
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}
    # a run that did not finish continues: its finished stages are kept
    monkeypatch.undo()
    monkeypatch.setenv("MTLIB_DATA_DIR", str(real_data_dir))
    (tmp_path / names[1] / "results.json").unlink()
    shutil.rmtree(tmp_path / names[1] / "stages" / "finetune_vaccine")
    assert sweep.main(argv) == 0
    said = capsys.readouterr().out
    assert f"2/2 {names[1]} (finetune.lr=3e-4, seed 0): continuing" in said and "[finetune] finished before" in said
    model = tmp_path / names[1] / "stages" / "finetune" / "model.safetensors"
    assert model.stat().st_mtime_ns == stamps[model] and (tmp_path / names[1] / "results.json").is_file()
    # a finished run of the same name with other settings is not this sweep's: refused
    assert sweep.main([*argv, "--set", "max_train_examples=8"]) == 2
    assert "finished with other settings" in capsys.readouterr().err


def test_make_sweep_and_make_help():
    listed = subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    targets = [line.split()[1] for line in listed.splitlines()]
    assert {"sweep", "workbook", "test", "lint", "help"} <= set(targets)
    phony = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY:")).split()[1:]
    rules = {line.split(":")[0] for line in (ROOT / "Makefile").read_text().splitlines() if line[:1].isalpha() and ":" in line}
    assert set(phony) <= rules, f"phony targets without a rule: {set(phony) - rules}"
    dry = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "sweep",
            "PROFILE=smoke",
            "SEEDS=0,1",
            "GRID=finetune.lr=1e-4,2e-4 pair_encoding=cross;bi",
            "VENV=/nonexistent",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()[-1]
    assert dry.endswith("-m mtlib sweep --profile smoke --seeds 0,1 --grid 'finetune.lr=1e-4,2e-4' --grid 'pair_encoding=cross;bi'")


def test_a_run_of_a_yaml_path_profile_is_found_again_however_the_path_is_spelt(tmp_path, monkeypatch):
    """Issue 34, finding 9: the recipe records a profile file by its resolved path; the rerun of a
    sweep or study that named it relatively finds its own finished run instead of refusing it."""
    import json
    import shutil

    from mtlib.util.errors import ConfigError
    from mtlib.workbook.training.sweep import finished_with

    profile = tmp_path / "scratch" / "mine.yaml"
    profile.parent.mkdir()
    shutil.copy(ROOT / "mtlib" / "profiles" / "smoke.yaml", profile)
    run = tmp_path / "runs" / "sweep-mine-s0"
    run.mkdir(parents=True)
    settings = {"all_stages": {"seed": "0"}}
    (run / "results.json").write_text(json.dumps({"profile": str(profile.resolve()), "settings": settings}))
    monkeypatch.chdir(tmp_path)
    assert finished_with(run, "scratch/mine.yaml", ["seed=0"])
    with pytest.raises(ConfigError, match="finished with other settings"):
        finished_with(run, "smoke", ["seed=0"])
    (run / "results.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a run's results.json"):
        finished_with(run, "scratch/mine.yaml", ["seed=0"])
