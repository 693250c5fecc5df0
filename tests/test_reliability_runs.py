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
