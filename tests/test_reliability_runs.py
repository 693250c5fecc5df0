"""Reliability, round three (issue 26): every command that writes a run validates first, then
takes the run's lock, then checks the folder under the lock; the workbook and the recipe share
one lock and one record; no setting writes into another run; labels come from what ran. Each
test here failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtlib.errors import CheckpointError, ConfigError


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
@pytest.mark.parametrize(("key", "value"), [("epoch", -5), ("global_step", "12")])
def test_a_trainer_json_value_out_of_range_is_one_line_naming_file_and_key(tiny_cfg, tmp_path, capsys, key, value):
    """A finished --keep_state run whose trainer.json says epoch -5 once resumed into 7 more epochs."""
    from mtlib.cli import main
    from mtlib.pipeline import run

    folder = tmp_path / "kept"
    run(tiny_cfg(save_path=str(folder), keep_state=True))
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
    from mtlib.workbook import sweep

    def train(*args, **kwargs):
        raise AssertionError("a run was trained")

    monkeypatch.setattr(sweep, "run_recipe", train)
    assert sweep.main(["--profile", "smoke", "--seeds", "0", *argv, "--runs_dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "seeds come from --seeds alone" in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()
