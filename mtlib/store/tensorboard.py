"""TensorBoard that compares well across stages and runs.

- One step axis across a run's stages: a stage that starts from another stage's run folder
  continues that stage's last step (`step_offset`), so stage 3's curves follow stage 2's.
- HParams: each finished stage records its settings and its final dev scores (`write_hparams`),
  so TensorBoard's HParams tab lines runs up by setting.
- On --resume, the events after the saved step are purged (`RunDir.writer(purge_step=...)`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config.tasks import TASKS

HPARAMS = (
    "option", "encoder", "pooling", "pair_encoding", "lr", "lr_schedule", "epochs", "batch_size", "task_scheduler",
    "projection", "combine_strategy", "use_pal", "n_hidden_layers", "head_dropout", "seed", "max_train_examples", "amp",
)  # fmt: skip


def step_offset(previous: str) -> int:
    """The last TensorBoard step of the stage folder a run starts from (0 when it is not one)."""
    if not previous:
        return 0
    folder = Path(previous)
    folder = folder.parent if folder.suffix == ".safetensors" else folder
    try:
        return int(json.loads((folder / "results.json").read_text(encoding="utf-8")).get("tb_last_step", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


class OffsetWriter:
    """A SummaryWriter whose global steps start after the previous stage's (`step_offset`);
    per-task and per-epoch axes are left as they are."""

    def __init__(self, writer: Any, offset: int):
        self._writer, self.offset = writer, offset

    def add_scalar(self, tag: str, value: float, step: int, **kw: Any) -> None:
        self._writer.add_scalar(tag, value, step + self.offset, **kw)

    def add_figure(self, tag: str, figure: Any, step: int, **kw: Any) -> None:
        self._writer.add_figure(tag, figure, step + self.offset, **kw)

    def add_task_scalar(self, tag: str, value: float, step: int) -> None:
        """A scalar on an axis of its own (a task's steps, an epoch number): no offset."""
        self._writer.add_scalar(tag, value, step)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


def write_hparams(writer: Any, settings: dict[str, Any], dev: dict[str, float], dev_mean: float | None) -> None:
    """The stage's settings and final dev scores in the HParams tab (into the run's own event
    folder, not a new sub-run)."""
    if not dev:
        return
    values = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in settings.items() if k in HPARAMS}
    metrics = {f"hparam/dev_{task}": float(score) for task, score in dev.items()}
    if dev_mean is not None:
        metrics["hparam/dev_mean"] = float(dev_mean)
    writer.add_hparams(values, metrics, run_name=".")


def write_final_scores(writer: Any, dev: dict[str, float], dev_mean: float | None, step: int, settings: dict[str, Any]) -> None:
    """The end of a run: each task's final dev score at its last step, and the HParams view."""
    for task, value in dev.items():
        writer.add_scalar(f"Final dev [{TASKS[task].label}]", value, step)
    write_hparams(writer, settings, dev, dev_mean)
