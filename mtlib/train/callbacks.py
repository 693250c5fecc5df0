"""What hangs off the training loop: records, TensorBoard, the best checkpoint.

The loop (`mtlib.train.loop.Trainer`) announces the typed events of `mtlib.train.events`, and
each recorder here registers one hook per event it cares about (`attach`), as minGPT's
`register_callback`. Figures are the workbook's: it adds its recorders through `run(cfg,
recorders=...)` (`mtlib.workbook.figures.error_plots.RECORDERS`), so the core draws none.

They run on rank 0 only (the Trainer attaches them there): metrics.jsonl and TensorBoard are one per run.
"""

from __future__ import annotations

from typing import Any

from ..config.tasks import TASKS
from ..store.checkpoints import save_model
from ..store.run_folder import RunDir
from .events import Conflict, DevScored, Hooks, PhaseStart, Skipped, UpdateDone


class MetricsLog:
    """metrics.jsonl: one record (`mtlib.store.metrics_file`) per phase start, update, skipped
    update, conflict probe and dev score."""

    def __init__(self, run: RunDir):
        self.run = run

    def attach(self, trainer: Hooks) -> None:
        for record in (PhaseStart, Conflict, Skipped):
            trainer.register_callback(record, self.run.log)
        trainer.register_callback(UpdateDone, lambda e: e.train and self.run.log(e.train))
        trainer.register_callback(DevScored, lambda e: self.run.log(e.record))


class TensorBoardLog:
    """TensorBoard scalars: losses per update and per task step, learning rate, cosines, dev
    scores and each task's mean loss per epoch."""

    def __init__(self, run: RunDir):
        self.run = run

    def attach(self, trainer: Hooks) -> None:
        trainer.register_callback(Conflict, self.on_conflict)
        trainer.register_callback(UpdateDone, self.on_update)
        trainer.register_callback(DevScored, self.on_dev)

    def on_conflict(self, e: Conflict) -> None:
        for name, value in e.cosine.items():
            self.run.writer().add_scalar(f"Grad cosine [{name}]", value, e.step)

    def on_update(self, e: UpdateDone) -> None:
        if e.train is None:
            return
        writer, train = self.run.writer(), e.train
        for task, value in train.loss.items():
            label = TASKS[task].label
            writer.add_scalar(f"Loss [{label}]", value, train.step)
            writer.add_task_scalar(f"Specific Loss [{label}]", value, e.task_steps[task])
        writer.add_scalar("Learning rate", train.lr, train.step)

    def on_dev(self, e: DevScored) -> None:
        writer, record = self.run.writer(), e.record
        step = record.step
        for t, value in record.dev.items():
            label = TASKS[t].label
            # "accuracy" for every task, STS's Pearson r included: the reference project's tag, kept so
            # that its TensorBoard views and ours line up
            writer.add_scalar(f"Dev accuracy [{label}]", value, step)
            total, count = e.epoch_loss.get(t, [0.0, 0])
            if count:
                writer.add_task_scalar(f"[EPOCH] Loss [{label}]", total / count, record.epoch)
        writer.add_scalar("Dev accuracy mean", record.dev_mean, step)
        writer.flush()


class BestCheckpoint:
    """model.safetensors (+ tokenizer): the weights of the best mean dev score so far."""

    def __init__(self, run: RunDir, model: Any, tokenizer: Any):
        self.run, self.model, self.tokenizer = run, model, tokenizer

    def attach(self, trainer: Hooks) -> None:
        trainer.register_callback(DevScored, self.on_dev)

    def on_dev(self, e: DevScored) -> None:
        if e.record.best:
            save_model(self.run.path, self.model, self.tokenizer)
