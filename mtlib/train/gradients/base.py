"""The plumbing every gradient method shares.

A method sees only a matrix `G` of per-task gradients on the shared encoder (one row per task
present in the update, fp32, already unscaled) and returns the vector to write back as the
encoder's gradient. Everything else is done once, here and in `mtlib.train`:
- which losses enter an update and how they are normalised (`mtlib.train.task_schedulers.draw_update`);
- one backward pass per task, copying the shared gradient into that task's row (at most one
  flattened copy per task), while head and PAL parameters keep their own task's gradient;
- fp16: rows are divided by the GradScaler's scale before aggregation, the result is multiplied
  back, and the scaler's unscale/inf-check/skip does the rest; a non-finite row skips aggregation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def flat_grad(params: list[nn.Parameter], out: torch.Tensor | None = None) -> torch.Tensor:
    """The parameters' gradients as one fp32 vector (zeros where a gradient is missing)."""
    numel = sum(p.numel() for p in params)
    if out is None:
        out = torch.empty(numel, dtype=torch.float32, device=params[0].device)
    offset = 0
    for p in params:
        n = p.numel()
        if p.grad is None:
            out[offset : offset + n].zero_()
        else:
            out[offset : offset + n].copy_(p.grad.reshape(-1))
        offset += n
    return out


def set_flat_grad(params: list[nn.Parameter], vector: torch.Tensor) -> None:
    offset = 0
    for p in params:
        n = p.numel()
        chunk = vector[offset : offset + n].view_as(p).to(p.dtype)
        if p.grad is None:
            p.grad = chunk.clone()
        else:
            p.grad.copy_(chunk)
        offset += n


def per_task_gradients(tasks: list[str], backward: Callable[[str], None], shared: list[nn.Parameter]) -> torch.Tensor:
    """Run `backward(task)` for each task and collect the shared gradient of each into a row.

    Task-specific parameters (heads, PAL) accumulate their gradients as usual: only their own
    task's loss reaches them.
    """
    rows = torch.empty(len(tasks), sum(p.numel() for p in shared), dtype=torch.float32, device=shared[0].device)
    for i, task in enumerate(tasks):
        for p in shared:
            p.grad = None
        backward(task)
        flat_grad(shared, out=rows[i])
    return rows


def cosine_matrix(rows: torch.Tensor) -> torch.Tensor:
    unit = rows / rows.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return unit @ unit.T


class GradientMethod:
    """Base class: `aggregate(rows, tasks)` -> the shared gradient. Stateless by default."""

    per_task = True  # does the method need one gradient row per task?

    def __init__(self, all_tasks: list[str]):
        self.all_tasks = list(all_tasks)

    def aggregate(self, rows: torch.Tensor, tasks: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Sum(GradientMethod):
    """`none`: no projection; the (weighted) task losses are simply summed."""

    per_task = False

    def aggregate(self, rows: torch.Tensor, tasks: list[str]) -> torch.Tensor:
        return rows.sum(0)
