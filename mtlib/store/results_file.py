"""What a finished run wrote in its `results.json`, as types.

- `RunResult`: one stage run folder (`python -m mtlib`, each workbook stage): its dev scores
  and their bootstrap intervals, the checkpoint, the prediction files, the epochs' history and
  the times. Written by `mtlib.run.pipeline`, read by the stages, the workbook's tables and reports.
- a workbook or recipe run folder's results.json (`mtlib.workbook.reports.report.collect`) names each stage's
  summary and the *reported stage* (the best mean dev score, `mtlib.workbook.training.stages.reported_stage`);
  `with_current_names` reads it, also from older files that called it `final_stage`.

Neither records an absolute path (issue 25): `RunResult.write` and `summary_as_recorded` write
each path as `mtlib.util.paths.recorded` does (relative to the run folder, else to the project
root); `RunResult.read` and `summary_as_read` give paths to open, from any mtlib version's file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.config import RENAMED_STAGES
from ..util import paths
from ..util.files import atomic_write_json

RESULTS_FILE = "results.json"
OLD_NAMES = {"final_stage": "reported_stage", "chosen_stage": "reported_stage"}  # older results.json keys


@dataclass
class RunResult:
    """A stage run's results.json."""

    option: str
    run: str
    checkpoint: str = ""
    dev: dict[str, float] = field(default_factory=dict)  # task -> dev score (accuracy or Pearson)
    ci95: dict[str, list[float]] = field(default_factory=dict)  # task -> bootstrap 95% interval
    dev_mean: float | None = None
    notes: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # one dev record per epoch
    train_seconds: float | None = None
    skipped_steps: int = 0
    predictions: list[str] = field(default_factory=list)  # prediction files written
    predicted: dict[str, int] = field(default_factory=dict)  # "task/split" -> rows predicted
    predict_seconds: float = 0.0
    predict_examples: int = 0
    wall_seconds: float = 0.0
    tb_last_step: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunResult:
        """From a results.json of any mtlib version: keys it does not know are left out."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def with_paths(self, change: Any) -> RunResult:
        """A copy with `change` applied to each path it holds (run, checkpoint, predictions)."""
        return dataclasses.replace(
            self, run=change(self.run), checkpoint=change(self.checkpoint), predictions=[change(p) for p in self.predictions]
        )

    @classmethod
    def read(cls, folder: str | Path) -> RunResult:
        """`folder`'s results.json, its paths to open (`mtlib.util.paths.from_record`: relative ones
        from the folder or the project root; older runs' absolute ones as they are)."""
        recorded = cls.from_dict(json.loads((Path(folder) / RESULTS_FILE).read_text(encoding="utf-8")))
        return recorded.with_paths(lambda p: paths.from_record(p, folder))

    def write(self, folder: str | Path) -> None:
        """results.json in `folder`, with no absolute path (`mtlib.util.paths.recorded`): the run
        folder is ".", its checkpoint "./model.safetensors", another stage's "../finetune/...".
        The object in memory keeps the paths it was given."""
        atomic_write_json(Path(folder) / RESULTS_FILE, self.with_paths(lambda p: paths.recorded(p, folder)).to_dict())


def with_current_names(results: dict[str, Any]) -> dict[str, Any]:
    """A workbook results.json with the keys and stages older mtlib versions named otherwise renamed."""
    out = {OLD_NAMES.get(k, k): v for k, v in results.items()}
    if isinstance(out.get("stages"), dict):
        out["stages"] = {RENAMED_STAGES.get(s, s): v for s, v in out["stages"].items()}
    if out.get("reported_stage") in RENAMED_STAGES:
        out["reported_stage"] = RENAMED_STAGES[out["reported_stage"]]
    return out


def _summary_paths(results: dict[str, Any], change: Callable[[str], str], parameters: bool = False) -> dict[str, Any]:
    """A copy of a workbook results.json with `change` applied to each path it holds (each
    stage's run, checkpoint and start, the test stage's, the figures, the executed notebooks and their sources;
    with `parameters`, the notebooks' parameters that are absolute paths)."""
    out = json.loads(json.dumps(results))
    for info in [*(out.get("stages") or {}).values(), out.get("test_stage") or {}]:
        info |= {k: change(info[k]) for k in ("run", "checkpoint", "started_from") if isinstance(info.get(k), str) and info[k]}
    out["figures"] = [change(f) for f in out.get("figures", [])]
    for info in (out.get("notebooks") or {}).values():
        for key in ("executed", "source"):  # the executed copy; the notebook file it ran (notebooks/, or the run's sources/)
            if info.get(key):
                info[key] = change(info[key])
        if parameters and isinstance(info.get("parameters"), dict):
            info["parameters"] = {k: change(v) if isinstance(v, str) and os.path.isabs(v) else v for k, v in info["parameters"].items()}
    return out


def summary_as_recorded(results: dict[str, Any], folder: str | Path) -> dict[str, Any]:
    """A workbook results.json as the run folder `folder` records it: no absolute path."""
    return _summary_paths(results, lambda p: paths.recorded(p, folder), parameters=True)


def summary_as_read(results: dict[str, Any], folder: str | Path) -> dict[str, Any]:
    """A workbook results.json `folder` recorded, with its paths to open (`mtlib.util.paths.from_record`)."""
    return _summary_paths(results, lambda p: paths.from_record(p, folder))
