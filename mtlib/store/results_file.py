"""What a finished run wrote in its `results.json`, as types.

- `RunResult`: one stage run folder (`python -m mtlib`, each workbook stage): its dev scores
  and their bootstrap intervals, the checkpoint, the prediction files, the epochs' history and
  the times. Written by `mtlib.run.pipeline`, read by the stages, the workbook's tables and reports.
- a workbook or recipe run folder's results.json (`mtlib.workbook.report.collect`) names each stage's
  summary and the *reported stage* (the best mean dev score, `mtlib.run.stages.reported_stage`);
  `with_current_names` reads it, also from older files that called it `final_stage`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.config import RENAMED_STAGES
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

    @classmethod
    def read(cls, folder: str | Path) -> RunResult:
        return cls.from_dict(json.loads((Path(folder) / RESULTS_FILE).read_text(encoding="utf-8")))

    def write(self, folder: str | Path) -> None:
        atomic_write_json(Path(folder) / RESULTS_FILE, self.to_dict())


def with_current_names(results: dict[str, Any]) -> dict[str, Any]:
    """A workbook results.json with the keys and stages older mtlib versions named otherwise renamed."""
    out = {OLD_NAMES.get(k, k): v for k, v in results.items()}
    if isinstance(out.get("stages"), dict):
        out["stages"] = {RENAMED_STAGES.get(s, s): v for s, v in out["stages"].items()}
    if out.get("reported_stage") in RENAMED_STAGES:
        out["reported_stage"] = RENAMED_STAGES[out["reported_stage"]]
    return out
