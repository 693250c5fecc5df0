"""One update: gather the drawn task batches, take the gradients, combine them, step.

An *update* is one optimizer step. It gathers `batches_per_update` task batches (the tasks
come from the task scheduler, through the combine strategy; how many batches an update and an
epoch hold, and the learning rate of each update, are `mtlib.train.optimization`'s), and for each task t
present:

    L_t = (1 / n_t) · Σ_{b in t's batches of this update} loss(b)

where n_t is the number of t's batches **in this update** (not in the epoch). Each batch of
`batch_size` examples is split into micro-batches of at most `max_micro_batch[t]` *different*
examples, each weighted by its share of the batch, so accumulation changes memory, not maths.
With `--projection none` the update's gradient is Σ_t w_t L_t; otherwise each task's gradient
on the shared encoder is taken separately and combined by the projection
(`mtlib.train.gradients`), while heads and PAL blocks keep their own task's gradient.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config.config import Config
from ..config.tasks import TASKS
from ..data.batching import Encoded
from ..model.amp import Precision
from ..model.multitask_bert import MultitaskBert
from ..model.task_outputs import class_weights_of, task_loss
from . import distributed as dist
from .gradients import cosine_matrix, per_task_gradients, set_flat_grad
from .smart import smart_loss
from .state import PhaseParts


@dataclass
class UpdateContext:
    """What every update of a stage works with; `probe` holds the conflict probe's rows."""

    cfg: Config
    model: MultitaskBert
    precision: Precision
    data: dict[str, dict[str, Encoded]]
    pad_id: int
    probe: dict[str, np.ndarray] = field(default_factory=dict)
    loss_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # per task: `task_loss` keywords

    def loss(self, task: str, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The task's loss with this run's label smoothing and class weights (`loss_options`)."""
        if task not in self.loss_options:
            self.loss_options[task] = loss_options(self.cfg, TASKS[task], self.data[task]["train"], self.precision.device)
        return task_loss(TASKS[task], output, labels, **self.loss_options[task])


def loss_options(cfg: Config, spec: Any, train: Encoded, device: torch.device) -> dict[str, Any]:
    """The keyword arguments of `task_loss` for this run: label smoothing and class weights
    (`--label_smoothing`, `--class_balance`) for a multi-class task, nothing for the others."""
    options: dict[str, Any] = {}
    if spec.label_kind == "class" and cfg.train.label_smoothing:
        options["label_smoothing"] = cfg.train.label_smoothing
    if spec.label_kind == "class" and cfg.train.class_balance:
        options["class_weights"] = class_weights_of(spec, train.examples.labels).to(device)
    return options


@dataclass
class Outcome:
    """What one update did: each task's loss (empty when a non-finite loss skipped the step)."""

    counts: Counter
    losses: dict[str, float]
    non_finite: list[str]
    lr: float
    conflicts: list[tuple[list[str], torch.Tensor]]  # (tasks, cosine matrix) measured in the update


def task_backward(bench: UpdateContext, task: str, rows: list[np.ndarray], n_batches: int) -> torch.Tensor:
    """Backward of task's `rows` (its batches of this update), micro-batch by micro-batch,
    each weighted by its share of its batch; returns the task's loss (detached)."""
    cfg, precision = bench.cfg, bench.precision
    weight = cfg.task_weight(task) / n_batches
    micro_size = cfg.max_micro_batch_of(task)
    total = torch.zeros((), device=precision.device)
    for index in rows:
        local = dist.shard(index)
        for start in range(0, len(local), micro_size):
            micro = local[start : start + micro_size]
            batch = precision.batch(bench.data[task]["train"], micro, bench.pad_id)
            loss = batch_loss(bench, task, batch)
            share = len(micro) / len(index)
            precision.backward(loss * (weight * share), bench.model.parameters())
            total += loss.detach() * share / n_batches
    return total


def batch_loss(bench: UpdateContext, task: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The task's loss on one micro-batch; with `--use_smart_regularization`, plus the weighted
    SMART loss on the head's input (`mtlib.train.smart`)."""
    model = bench.model
    if not bench.cfg.train.use_smart_regularization:
        with bench.precision.autocast():
            output = model(task, **batch)
        return bench.loss(task, output, batch["labels"])
    with bench.precision.autocast():
        features = model.features(task, **batch)
        output = model.head(task, features)
        regulariser = smart_loss(lambda x: model.head(task, x), features, output, TASKS[task].label_kind)
    return bench.loss(task, output, batch["labels"]) + bench.cfg.train.smart_weight_regularization * regulariser


def run_update(bench: UpdateContext, draws: list[str], parts: PhaseParts, monitor: bool) -> Outcome:
    """One optimizer step over the drawn batches; `monitor` also measures the task-gradient cosines."""
    model, scaler, streams = bench.model, parts.scaler, parts.streams
    counts = Counter(draws)
    present = [t for t in streams if counts[t]]
    rows: dict[str, list[np.ndarray]] = {t: [] for t in present}
    for t in draws:  # fetch in draw order: the data order depends only on the draws
        rows[t].append(streams[t].next_index())
    loss_sum: dict[str, torch.Tensor] = {}

    def backward(task: str) -> None:
        loss_sum[task] = task_backward(bench, task, rows[task], counts[task])

    shared, conflicts = model.shared_parameters(), []
    if monitor and shared and len(present) < 2 and len(streams) > 1:
        conflicts += probe_conflicts(bench, list(streams), shared)
    if shared and (parts.method.per_task or monitor) and len(present) > 1:
        grads = per_task_gradients(present, backward, shared)
        dist.all_reduce_sum(grads)
        scale = scaler.get_scale() if scaler.is_enabled() else 1.0
        grads.div_(scale)
        if monitor:
            conflicts.append((present, cosine_matrix(grads)))
        combined = parts.method.aggregate(grads, present) if bool(torch.isfinite(grads).all()) else grads.sum(0)
        set_flat_grad(shared, combined * scale)
        dist.all_reduce_grads([p for t in present for p in model.task_parameters(t)])
    else:
        for task in present:
            backward(task)
        dist.all_reduce_grads([p for p in model.parameters() if p.requires_grad])

    losses = torch.stack([loss_sum[t] for t in present])
    dist.all_reduce_sum(losses)
    values = losses.tolist()  # the one host sync of the update
    bad = [t for t, v in zip(present, values) if not math.isfinite(v)]
    if bad:
        parts.optimizer.zero_grad(set_to_none=True)
        return Outcome(counts, {}, bad, parts.lr_schedule.get_last_lr()[-1], conflicts)
    scaler.step(parts.optimizer)
    scaler.update()
    parts.lr_schedule.step()
    parts.optimizer.zero_grad(set_to_none=True)
    return Outcome(counts, dict(zip(present, values)), [], parts.lr_schedule.get_last_lr()[-1], conflicts)


def probe_conflicts(bench: UpdateContext, tasks: list[str], shared: list[torch.nn.Parameter]) -> list[tuple[list[str], torch.Tensor]]:
    """For updates that hold one task: measure the task-gradient cosines on a fixed probe
    batch of each task (gradients discarded, nothing stepped), so the conflict monitor also
    works with one batch per update. The monitor only watches: training takes the same
    steps, with the same dropout masks, whatever `--conflict_every` is."""
    if not bench.probe:
        size = bench.cfg.train.batch_size
        for i, t in enumerate(tasks):
            n = len(bench.data[t]["train"])
            bench.probe[t] = np.sort(np.random.default_rng([bench.cfg.train.seed, 4099, i]).choice(n, min(size, n), replace=False))

    def backward(task: str) -> None:
        batch = bench.precision.batch(bench.data[task]["train"], dist.shard(bench.probe[task]), bench.pad_id)
        with bench.precision.autocast():
            output = bench.model(task, **batch)
        bench.precision.backward(bench.loss(task, output, batch["labels"]), bench.model.parameters())

    cuda = [bench.precision.device] if bench.precision.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # the probe's dropout draws leave training's random stream alone
        grads = per_task_gradients(tasks, backward, shared)
    dist.all_reduce_sum(grads)
    bench.model.zero_grad(set_to_none=True)
    return [(tasks, cosine_matrix(grads))] if bool(torch.isfinite(grads).all()) else []
