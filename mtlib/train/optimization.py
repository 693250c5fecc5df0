"""How long an epoch is, how many batches make an update, and the learning rate of each update.

Counted as the reference project counted them (its README: `--num_batches_per_epoch [NB] for
the number of batches per epoch`):

- an epoch is `num_batches_per_epoch` task batches of `batch_size` examples; 0 means one pass
  over every task, the sum of their batch counts;
- an update (one optimizer step) gathers `batches_per_update` of them: one batch without a
  projection; with one, one batch of each task (the reference's `--projection vaccine` stage),
  or `COMBINE_BATCHES` with a combine strategy (the reference's `pal` + `force` / `encourage`);
- so an epoch runs `num_batches_per_epoch // batches_per_update` updates (the reference's
  `int(num_batches_per_epoch / 3)`), unless `updates_per_epoch` names the updates directly.

Within a stage the learning rate is constant, as the reference kept it (it lowered `--lr` by hand
between stages), or follows a linear warm-up and decay to 0 (`--lr_schedule linear`); both are
`transformers.get_scheduler` schedules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config.methods import COMBINE_BATCHES, batches_per_update  # noqa: F401 (COMBINE_BATCHES: named by the docstring)

if TYPE_CHECKING:
    from ..config.config import Config


@dataclass(frozen=True)
class EpochPlan:
    batches_per_update: int
    updates_per_epoch: int

    @property
    def batches_per_epoch(self) -> int:
        return self.batches_per_update * self.updates_per_epoch


def plan_epoch(cfg: Config, sizes: dict[str, int]) -> EpochPlan:
    """The epoch of a phase whose tasks have `sizes` batches each (their real batch counts)."""
    k = batches_per_update(cfg, len(sizes))
    t = cfg.train
    if t.updates_per_epoch:
        updates = t.updates_per_epoch
    elif t.num_batches_per_epoch:
        updates = max(1, t.num_batches_per_epoch // k)
    else:  # one pass over every task: at least each batch once
        updates = math.ceil(sum(sizes.values()) / k)
    return EpochPlan(k, updates)


def make_lr_schedule(optimizer: Any, name: str, warmup_steps: int, total_steps: int) -> Any:
    """The learning-rate schedule of a stage of `total_steps` updates (a LambdaLR)."""
    from transformers import get_scheduler

    if name == "constant":
        kind = "constant_with_warmup" if warmup_steps else "constant"
        return get_scheduler(kind, optimizer, num_warmup_steps=warmup_steps or None)
    return get_scheduler("linear", optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)


def make_optimizer(cfg: Config, model: Any, tasks: list[str]) -> Any:
    """AdamW over the phase's parameters: the tasks' heads (and PAL blocks) at `--head_lr` when
    it is set, the shared encoder at `--lr`. Fused: a 3x faster step on a CPU (benchmarks/README.md)."""
    import torch

    heads = [p for t in tasks for p in model.task_parameters(t)]
    shared = model.shared_parameters()
    t = cfg.train
    if not t.head_lr or t.head_lr == t.lr:
        groups: list[dict[str, Any]] = [{"params": heads + shared}]
    else:
        groups = [{"params": heads, "lr": t.head_lr}, {"params": shared}]
    return torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay, fused=True)
