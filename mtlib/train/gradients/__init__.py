"""How per-task gradients on the shared encoder combine (`--projection`).

One base module (`base.py`) holds the plumbing; each method is one small class:
`none` (sum), `pcgrad`, `vaccine` (GradVac), and TorchJD's newer aggregators.
"""

from __future__ import annotations

from typing import Any

from .base import GradientMethod, Sum, cosine_matrix, flat_grad, per_task_gradients, set_flat_grad
from .gradvac import GradVac
from .pcgrad import PCGrad
from .torchjd_methods import TORCHJD_METHODS

PROJECTIONS: dict[str, type[GradientMethod]] = {"none": Sum, "pcgrad": PCGrad, "vaccine": GradVac, **TORCHJD_METHODS}


def make_method(name: str, tasks: list[str], **options: Any) -> GradientMethod:
    if name == "vaccine":
        return GradVac(tasks, beta=options.get("beta", 0.01))
    return PROJECTIONS[name](tasks)


__all__ = ["PROJECTIONS", "GradientMethod", "make_method", "flat_grad", "set_flat_grad", "per_task_gradients", "cosine_matrix"]
