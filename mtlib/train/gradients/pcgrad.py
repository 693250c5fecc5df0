"""PCGrad: "Gradient Surgery for Multi-Task Learning" (Yu et al., NeurIPS 2020, arXiv:2001.06782).

For each task i, visit the other tasks in random order; whenever g_i (as projected so far)
conflicts with g_j (negative dot product), remove its component along g_j. The update is the
sum of the projected gradients. The maths is TorchJD's `PCGrad` aggregator; its random order
comes from torch's global RNG, which mtlib seeds and checkpoints.
"""

from __future__ import annotations

import torch
from torchjd.aggregation import PCGrad as _TorchJDPCGrad

from .base import GradientMethod


class PCGrad(GradientMethod):
    def __init__(self, all_tasks: list[str]):
        super().__init__(all_tasks)
        self.aggregator = _TorchJDPCGrad()

    def aggregate(self, rows: torch.Tensor, tasks: list[str]) -> torch.Tensor:
        if rows.shape[0] == 1:
            return rows[0]
        return self.aggregator(rows)
