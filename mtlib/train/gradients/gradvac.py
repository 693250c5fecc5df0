"""GradVac: "Gradient Vaccine" (Wang et al., ICLR 2021, arXiv:2010.05874), `--projection vaccine`.

Each ordered task pair (i, j) keeps an EMA target cosine φ̂_ij (start 0, rate β =
`--gradvac_beta`). For task i, visiting the others in random order: with φ_ij = cos(g_i', g_j),
if φ_ij < φ̂_ij the gradient is moved towards g_j just enough that its cosine with g_j becomes
φ̂_ij:

    g_i' += g_j · ‖g_i'‖ (φ̂_ij √(1−φ_ij²) − φ_ij √(1−φ̂_ij²)) / (‖g_j‖ √(1−φ̂_ij²))

then φ̂_ij ← (1−β) φ̂_ij + β φ_ij. The update is the sum of the g_i'.

Written here rather than taken from TorchJD's `GradVac`: TorchJD keys its EMA by row position
and clears it whenever the number of rows changes, while an mtlib update may hold any subset of
the tasks (`--combine_strategy none`). Here the EMA is a table indexed by task *name*, kept in
the checkpoint, and only the pairs present in an update are read and written.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import GradientMethod


class GradVac(GradientMethod):
    def __init__(self, all_tasks: list[str], beta: float = 0.01, eps: float = 1e-8):
        super().__init__(all_tasks)
        self.beta, self.eps = beta, eps
        self.target = torch.zeros(len(all_tasks), len(all_tasks), dtype=torch.float64)

    def aggregate(self, rows: torch.Tensor, tasks: list[str]) -> torch.Tensor:
        index = [self.all_tasks.index(t) for t in tasks]
        wide = rows.double()  # converted once: rows hold one copy of the encoder's gradient per task
        gram = (wide @ wide.T).cpu()  # all norms and dots come from the Gramian
        del wide
        m = len(tasks)
        coef = torch.eye(m, dtype=torch.float64)  # g_i' = sum_k coef[i, k] g_k
        for i in range(m):
            for j in torch.randperm(m).tolist():
                if j == i:
                    continue
                dot_ij = coef[i] @ gram[:, j]
                norm_i = (coef[i] @ gram @ coef[i]).clamp(min=0).sqrt()
                norm_j = gram[j, j].clamp(min=0).sqrt()
                phi = dot_ij / (norm_i * norm_j + self.eps)
                target = self.target[index[i], index[j]]
                if phi < target:
                    w = norm_i * (target * (1 - phi**2).clamp(min=0).sqrt() - phi * (1 - target**2).clamp(min=0).sqrt())
                    coef[i, j] += w / (norm_j * (1 - target**2).clamp(min=0).sqrt() + self.eps)
                self.target[index[i], index[j]] = (1 - self.beta) * target + self.beta * phi
        weights = coef.sum(0).to(rows.dtype).to(rows.device)
        return weights @ rows

    def state_dict(self) -> dict[str, Any]:
        return {"target": self.target.clone(), "tasks": list(self.all_tasks)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = list(state["tasks"])
        for a, ta in enumerate(saved):
            for b, tb in enumerate(saved):
                if ta in self.all_tasks and tb in self.all_tasks:
                    self.target[self.all_tasks.index(ta), self.all_tasks.index(tb)] = state["target"][a, b]
