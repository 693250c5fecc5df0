"""What hangs off the training loop: records, TensorBoard, confusion figures, the best checkpoint.

The loop (`mtlib.train.loop.Trainer`) announces events through `add_callback`
(`fn(event, payload)`, as minGPT's), and each recorder here handles the ones it cares about:

    phase     a phase starts: its tasks, batch counts and updates per epoch
    conflict  task-gradient cosines were measured (`--conflict_every`)
    skipped   a non-finite loss skipped the update
    update    an update stepped (its losses, task counts and learning rate)
    dev       an epoch's dev scores (and the predictions behind them)
    epoch     the epoch is over (its dev record)

They run on rank 0 only (the Trainer adds them there): metrics.jsonl and TensorBoard are one per run.
"""

from __future__ import annotations

from typing import Any

from ..data.tasks import TASKS
from ..store.checkpoints import save_model
from ..store.run_folder import RunDir
from .evaluate import confusion


class MetricsLog:
    """metrics.jsonl: one line per phase start, update, skipped update, conflict probe and dev score."""

    def __init__(self, run: RunDir):
        self.run = run

    def __call__(self, event: str, p: dict[str, Any]) -> None:
        if event == "phase":
            self.run.log(kind="phase", **p)
        elif event == "conflict":
            self.run.log(kind="conflict", step=p["step"], cosine=p["cosine"])
        elif event == "skipped":
            self.run.log(kind="skipped", step=p["step"], tasks=p["tasks"])
        elif event == "update" and p["losses"]:
            self.run.log(kind="train", step=p["step"], epoch=p["epoch"], tasks=p["counts"], loss=p["losses"], lr=p["lr"])
        elif event == "dev":
            self.run.log(kind="dev", **p["record"])


class TensorBoardLog:
    """TensorBoard scalars: losses per update and per task step, learning rate, cosines, dev
    scores, each task's mean loss per epoch, and the confusion figures of each epoch."""

    def __init__(self, run: RunDir):
        self.run = run

    def __call__(self, event: str, p: dict[str, Any]) -> None:
        if event == "conflict":
            for name, value in p["cosine"].items():
                self.run.writer().add_scalar(f"Grad cosine [{name}]", value, p["step"])
        elif event == "update" and p["losses"]:
            writer = self.run.writer()
            for task, value in p["losses"].items():
                label = TASKS[task].label
                writer.add_scalar(f"Loss [{label}]", value, p["step"])
                writer.add_task_scalar(f"Specific Loss [{label}]", value, p["task_steps"][task])
            writer.add_scalar("Learning rate", p["lr"], p["step"])
        elif event == "dev":
            self._dev(p)

    def _dev(self, p: dict[str, Any]) -> None:
        writer, record = self.run.writer(), p["record"]
        step = record["step"]
        for t, value in record["dev"].items():
            label = TASKS[t].label
            writer.add_scalar(f"Dev accuracy [{label}]", value, step)
            total, count = p["epoch_loss"].get(t, [0.0, 0])
            if count:
                writer.add_task_scalar(f"[EPOCH] Loss [{label}]", total / count, record["epoch"])
            matrix = confusion(p["predictions"][t])
            if matrix is not None:
                from ..workbook.error_plots import confusion_pair_figure  # matplotlib only when a figure is drawn

                writer.add_figure(f"Confusion Matrix [{label}]", confusion_pair_figure(matrix, t), step)
        writer.add_scalar("Dev accuracy mean", record["dev_mean"], step)
        writer.flush()


class BestCheckpoint:
    """model.safetensors (+ tokenizer): the weights of the best mean dev score so far."""

    def __init__(self, run: RunDir, model: Any, tokenizer: Any):
        self.run, self.model, self.tokenizer = run, model, tokenizer

    def __call__(self, event: str, p: dict[str, Any]) -> None:
        if event == "dev" and p["record"]["best"]:
            save_model(self.run.path, self.model, self.tokenizer)
