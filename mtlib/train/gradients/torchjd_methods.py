"""The newer aggregators, straight from TorchJD (https://torchjd.org), over mtlib's plumbing.

- `upgrad`: UPGrad (Quinton & Rey, 2024, arXiv:2406.16232), projects each gradient onto the dual
  cone of all of them; needs `quadprog` and `qpsolvers`.
- `mgda`: MGDA (Désidéri, 2012; Sener & Koltun, 2018), the min-norm point of the convex hull.
- `dualproj`: DualProj (Quinton & Rey, 2024), the mean projected onto the dual cone.
- `aligned_mtl`: Aligned-MTL (Senushkin et al., CVPR 2023), condition-number alignment.
- `imtl_g`: IMTL-G (Liu et al., ICLR 2021), equal projections onto the update.
- `cagrad`: CAGrad (Liu et al., NeurIPS 2021); `nash_mtl`: Nash-MTL (Navon et al., ICML 2022).
  Both solve with cvxpy, which is not a default dependency: `pip install cvxpy`.
"""

from __future__ import annotations

from typing import Any

import torch

from ...util.errors import ConfigError
from .base import GradientMethod


def _aggregator(name: str, n_tasks: int) -> Any:
    from torchjd import aggregation as A

    if name == "upgrad":
        return A.UPGrad()
    if name == "mgda":
        return A.MGDA()
    if name == "dualproj":
        return A.DualProj()
    if name == "aligned_mtl":
        return A.AlignedMTL()
    if name == "imtl_g":
        return A.IMTLG()
    if name == "cagrad":
        return A.CAGrad(c=0.5)
    if name == "nash_mtl":
        return A.NashMTL(n_tasks=n_tasks)
    raise KeyError(name)


class TorchJDMethod(GradientMethod):
    """One of TorchJD's aggregators, named by `aggregator` (the registry's `arguments`)."""

    def __init__(self, all_tasks: list[str], aggregator: str):
        super().__init__(all_tasks)
        self.name = aggregator
        try:
            self.aggregator = _aggregator(aggregator, len(all_tasks))
            self.aggregator(torch.eye(2, 3))  # fail now, at start-up, if a solver is missing
        except ImportError as exc:
            raise ConfigError(f"--projection {self.name} needs an optional solver: {exc}. Install it, e.g. `pip install cvxpy`") from exc

    def aggregate(self, rows: torch.Tensor, tasks: list[str]) -> torch.Tensor:
        if rows.shape[0] == 1:
            return rows[0]
        return self.aggregator(rows)
