"""Reliability, round three (issue 26): every command that writes a run validates first, then
takes the run's lock, then checks the folder under the lock; the workbook and the recipe share
one lock and one record; no setting writes into another run; labels come from what ran. Each
test here failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtlib.util.errors import CheckpointError, ConfigError


def _files(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


# ---- 2. the folder is checked under the lock, not when the run started ---------------------------
def test_a_run_that_finished_into_the_folder_while_this_one_started_is_not_replaced(tiny_cfg, tmp_path, monkeypatch):
    """Run A checks runs/T (empty) and reads its inputs; meanwhile run B trains into runs/T and
    finishes. A must then refuse (no --overwrite), leaving B's model and scores as they are."""
    from mtlib import pipeline

    folder = tmp_path / "T"
    real_prepare = pipeline.prepare
    finished: dict[Path, bytes] = {}
    started = []

    def prepare(cfg, *args, **kwargs):
        if not started:  # A is between its check and its lock: B runs to the end first
            started.append(cfg)
            pipeline.run(tiny_cfg(save_path=str(folder), overwrite=False, seed=1))
            finished.update(_files(folder))
        return real_prepare(cfg, *args, **kwargs)

    monkeypatch.setattr(pipeline, "prepare", prepare)
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        pipeline.run(tiny_cfg(save_path=str(folder), overwrite=False, seed=2))
    assert (folder / "results.json").is_file() and _files(folder) == finished


# ---- 10. values are validated where they are read: trainer.json ---------------------------------
def _copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, tmp_path / "kept", ignore=shutil.ignore_patterns(".lock")))


@pytest.mark.parametrize(("key", "value"), [("epoch", -5), ("global_step", "12")])
def test_a_trainer_json_value_out_of_range_is_one_line_naming_file_and_key(kept_run, tmp_path, capsys, key, value):
    """A finished --keep_state run whose trainer.json says epoch -5 once resumed into 7 more epochs."""
    from mtlib.__main__ import main

    folder = _copy(kept_run, tmp_path)
    trainer = folder / "state" / "trainer.json"
    saved = json.loads(trainer.read_text())  # {"__dict__": [[key, value], ...]} (mtlib.checkpoints.split_state)
    loop = dict(saved["__dict__"])["loop"]["__dict__"]
    loop[[k for k, _ in loop].index(key)][1] = value
    trainer.write_text(json.dumps(saved))
    before = _files(folder)
    assert main(["--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{trainer}: loop.{key} is " in err and "Traceback" not in err and err.count("\n") == 1, err
    assert _files(folder) == before  # nothing trained, nothing rewritten


def test_loop_state_from_saved_accepts_what_the_loop_saves():
    from mtlib.train.state import LoopState

    state = LoopState(phase=1, epoch=3, update=0, global_step=40, best=0.5, task_steps={"sst": 20}, history=[{"epoch": 2}])
    assert LoopState.from_saved(state.state_dict(), "t.json", phases=2, epochs=2) == state
    with pytest.raises(CheckpointError, match=r"t.json: loop.epoch is 4; expected a whole number from 1 to 3"):
        LoopState.from_saved({**state.state_dict(), "epoch": 4}, "t.json", phases=2, epochs=2)


# ---- 8. a sweep's labels come from what ran: seeds from --seeds alone ---------------------------
@pytest.mark.parametrize(
    "argv", [["--grid", "seed=1,2"], ["--grid", "finetune.seed=1,2"], ["--set", "seed=3", "--grid", "finetune.lr=1e-4,3e-4"]]
)
def test_a_sweep_that_sets_the_seed_otherwise_than_by_seeds_is_refused_before_training(tmp_path, monkeypatch, capsys, argv):
    """`--seeds 0 --grid seed=1,2` trained both runs with seed 0 and labelled them seed=1 and seed=2."""
    from mtlib.workbook.training import sweep

    def train(*args, **kwargs):
        raise AssertionError("a run was trained")

    monkeypatch.setattr(sweep, "run_recipe", train)
    assert sweep.main(["--profile", "smoke", "--seeds", "0", *argv, "--runs_dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "seeds come from --seeds alone" in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()


# ---- 3, 4, 6, 9. the workbook and the recipe: validate, lock, check under the lock --------------
def _finished_workbook_run(folder: Path) -> dict[Path, bytes]:
    from mtlib.workbook.notebooks.runner import WORKBOOK_MARKER

    (folder / "notebooks").mkdir(parents=True)
    (folder / "figures").mkdir()
    (folder / "figures" / "02_history.png").write_bytes(b"a figure")
    (folder / "stages" / "finetune").mkdir(parents=True)
    (folder / "stages" / "finetune" / "results.json").write_text("{}")
    (folder / WORKBOOK_MARKER).touch()
    (folder / "results.json").write_text(json.dumps({"notebooks": {"01": {"seconds": 1.0}}, "dev_mean": 0.5}))
    return _files(folder)


def _no(what: str):
    def refuse(*args, **kwargs):
        pytest.fail(f"{what} ran")

    return refuse


def _one_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, (code, err)
    return err


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("seed=abc", "notebook 02 declares seed as int"),
        ("epochs=true", "declares epochs as int"),
        ("lr=-1.0", "stage individual_pretrain settings it cannot train with: invalid configuration: --lr must be in (0, 1] (got -1.0)"),
        ("finetune_epochs=-3", "stage finetune settings it cannot train with: invalid configuration: --epochs must be at least 1"),
        ("run_name=k35", "-p run_name=k35: this workbook writes run"),
        ("runs_dir=elsewhere", "-p runs_dir=elsewhere: this workbook writes run"),
        ("no_such_knob=1", "no notebook declares the parameter(s) ['no_such_knob']"),
    ],
)
def test_workbook_parameters_are_checked_before_anything_is_deleted(tmp_path, monkeypatch, capsys, param, message):
    """`make workbook RUN=k60 OVERWRITE=1` with `-p seed=abc` deleted results.json and the figures,
    then failed in notebook 02; `-p run_name=k35` wrote k35's figures."""
    from mtlib.workbook.notebooks import runner

    monkeypatch.setattr(runner, "execute", _no("a notebook"))
    runs = tmp_path / "runs"
    k60, k35 = _finished_workbook_run(runs / "k60"), _finished_workbook_run(runs / "k35")
    code = runner.main(["--profile", "smoke", "--run", "k60", "--runs_dir", str(runs), "--overwrite", "--quiet", "-p", param])
    assert message in _one_line(capsys, code)
    assert _files(runs / "k60") == k60 and _files(runs / "k35") == k35


def test_a_profile_given_as_a_parameter_is_the_profile_that_runs_and_is_recorded(tmp_path, monkeypatch, capsys):
    """`--profile smoke -p profile=smoke_lr.yaml` trained with the file's settings and recorded `smoke`."""
    from mtlib import paths
    from mtlib.workbook.notebooks import runner

    profile = tmp_path / "smoke_lr.yaml"
    profile.write_text((paths.project_root() / "mtlib" / "profiles" / "smoke.yaml").read_text())
    ran = []
    monkeypatch.setattr(runner, "_run_workbook", lambda *args: ran.append(args) or {})
    argv = ["--run", "lr", "--runs_dir", str(tmp_path / "runs"), "--quiet", "-p", f"profile={profile}"]
    assert runner.main(argv) == 0
    profile_arg, *rest = ran[0]
    assert profile_arg == str(profile) and not any(isinstance(a, dict) and "profile" in a for a in rest)
    assert "--profile " + str(profile) in runner.recreate_command(profile_arg, "lr", "", "", {}, "")
    assert "give the profile once" in _one_line(capsys, runner.main(["--profile", "smoke", *argv]))
    assert len(ran) == 1


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_the_recipe_does_not_rewrite_a_workbook_run(tmp_path, monkeypatch, capsys, overwrite):
    """`python -m mtlib recipe --run wref` on a finished workbook run rewrote its record without the notebooks."""
    from mtlib.workbook.training import recipe

    monkeypatch.setattr(recipe, "run_stage", _no("a stage"))
    before = _finished_workbook_run(tmp_path / "runs" / "wref")
    code = recipe.main(["--profile", "smoke", "--run", "wref", "--runs_dir", str(tmp_path / "runs"), *overwrite])
    assert "was made by python -m mtlib.workbook (make workbook), and python -m mtlib.recipe does not rewrite it" in _one_line(capsys, code)
    assert _files(tmp_path / "runs" / "wref") == before


@pytest.mark.parametrize("maker", ["workbook", "recipe"])
def test_the_command_line_does_not_write_a_stage_of_a_workbook_or_recipe_run(tmp_path, monkeypatch, capsys, maker):
    """`python -m mtlib ... --save_path runs/wb1/stages/finetune --overwrite` replaced a stage of a
    finished workbook run, whose results.json went on reporting the old stage."""
    import mtlib.run.pipeline
    from mtlib.__main__ import main
    from mtlib.workbook.notebooks.runner import RECIPE_MARKER, WORKBOOK_MARKER

    monkeypatch.setattr(mtlib.run.pipeline, "run", _no("training"))
    folder = tmp_path / "runs" / "wb1"
    _finished_workbook_run(folder)
    if maker == "recipe":
        (folder / WORKBOOK_MARKER).unlink()
        (folder / "notebooks").rmdir()
        (folder / RECIPE_MARKER).touch()
        (folder / "results.json").write_text(json.dumps({"notebooks": {}}))
    (folder / "stages" / "finetune" / ".mtlib-run").touch()  # a stage folder is a run folder --overwrite may clear
    before = _files(folder)
    for save_path in (folder / "stages" / "finetune", folder / "stages" / "new", folder):
        argv = ["--encoder", "tiny-random", "--device", "cpu", "--no-progress", "--save_path", str(save_path), "--overwrite"]
        err = _one_line(capsys, main(argv))
        assert f"is inside the {maker} run {folder}, which python -m mtlib does not write into" in err
        assert ("make workbook OVERWRITE=1" if maker == "workbook" else "python -m mtlib recipe --overwrite") in err
    assert _files(folder) == before and not (folder / "stages" / "new").exists()


@pytest.mark.parametrize("record", ["marker", "results"])
def test_the_workbook_does_not_rewrite_a_recipe_run(tmp_path, monkeypatch, capsys, record):
    from mtlib.workbook.notebooks import runner

    monkeypatch.setattr(runner, "execute", _no("a notebook"))
    folder = tmp_path / "runs" / "rref"
    (folder / "stages" / "finetune").mkdir(parents=True)
    if record == "marker":
        (folder / runner.RECIPE_MARKER).touch()
    (folder / "results.json").write_text(json.dumps({"notebooks": {}, "command": "python -m mtlib.recipe"}))
    before = _files(folder)
    code = runner.main(["--profile", "smoke", "--run", "rref", "--runs_dir", str(tmp_path / "runs"), "--overwrite", "--quiet"])
    assert "was made by python -m mtlib.recipe" in _one_line(capsys, code)
    assert _files(folder) == before


def test_the_recipe_refuses_a_run_whose_lock_a_workbook_holds(tmp_path, monkeypatch, capsys):
    """Started while a workbook held the run's lock, the recipe trained every stage anyway."""
    from mtlib.store.run_folder import locked
    from mtlib.workbook.training import recipe

    monkeypatch.setattr(recipe, "run_stage", _no("a stage"))
    folder = tmp_path / "runs" / "busy"
    with locked(folder):  # as run_workbook holds it while its notebooks run
        code = recipe.main(["--profile", "smoke", "--run", "busy", "--runs_dir", str(tmp_path / "runs")])
    assert "is in use by another mtlib process" in _one_line(capsys, code)


@pytest.mark.parametrize("setting", ["resume", "save_path", "finetune.resume"])
def test_no_recipe_setting_writes_into_another_run(tmp_path, monkeypatch, capsys, setting):
    """`--set resume=runs/other` rewrote that run's results.json, metrics and TensorBoard logs."""
    from mtlib.workbook.training import recipe

    monkeypatch.setattr(recipe, "run_stage", _no("a stage"))
    other = tmp_path / "runs" / "other"
    (other / "tb").mkdir(parents=True)
    (other / "config.yaml").write_text("lr: 0.001\n")
    (other / "results.json").write_text("{}")
    before = _files(other)
    argv = ["--profile", "smoke", "--run", "mine", "--runs_dir", str(tmp_path / "runs"), "--set", f"{setting}={other}"]
    err = _one_line(capsys, recipe.main(argv))
    assert f"{setting.rpartition('.')[2]} is not a stage setting" in err
    assert _files(other) == before and not (tmp_path / "runs" / "mine").exists()


def test_a_notebook_cannot_point_a_stage_into_another_run(tmp_path):
    from mtlib.workbook.training.stages import stage_config

    with pytest.raises(ConfigError, match="resume is not a stage setting: stage finetune of run mine trains into"):
        stage_config("smoke", tmp_path / "mine", "finetune", {"resume": str(tmp_path / "other")})
    assert stage_config("smoke", tmp_path / "mine", "finetune", {"resume": ""}).run.resume in ("", None)


# ---- 10. values are validated where they are read: a run's config.yaml on --resume --------------
def test_a_resumed_runs_config_yaml_value_out_of_range_is_one_line_naming_the_file(kept_run, tmp_path, capsys):
    import yaml

    from mtlib.__main__ import main

    folder = _copy(kept_run, tmp_path)
    recorded = yaml.safe_load((folder / "config.yaml").read_text())
    recorded["train"]["eval_batch_size"] = -5
    (folder / "config.yaml").write_text(yaml.safe_dump(recorded))
    before = _files(folder)
    err = _one_line(capsys, main(["--resume", str(folder)]))
    assert f"{folder / 'config.yaml'}: invalid configuration: --eval_batch_size must be at least 1 (got -5)" in err
    assert _files(folder) == before
