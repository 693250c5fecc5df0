"""How per-task gradients on the shared encoder combine (`--projection`).

One base module (`base.py`) holds the plumbing; each method is one small class:
`none` (sum), `pcgrad`, `vaccine` (GradVac), and TorchJD's newer aggregators. Each is declared
once, torch-free, in the registry (`mtlib.config.method_table`: name, help, the config fields it
reads); `make_method` and `method_for` find its class there by name.
"""

from __future__ import annotations

from typing import Any

from ...config import methods
from .base import GradientMethod, cosine_matrix, flat_grad, per_task_gradients, set_flat_grad


def make_method(name: str, tasks: list[str], **options: Any) -> GradientMethod:
    """The registered projection `name` over `tasks`, with its fixed arguments and `options`."""
    m = methods.method("projection", name)
    return methods.behaviour(m)(tasks, **{**m.arguments, **options})


def method_for(cfg: Any, tasks: list[str]) -> GradientMethod:
    """The projection a `Config` asks for, given the config fields it reads (`Method.options`)."""
    m = methods.method("projection", cfg.multitask.projection)
    return methods.behaviour(m)(tasks, **m.options_of(cfg))


__all__ = ["GradientMethod", "make_method", "method_for", "flat_grad", "set_flat_grad", "per_task_gradients", "cosine_matrix"]
