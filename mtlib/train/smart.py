"""SMART's smoothness-inducing adversarial regulariser (Jiang et al., 2020), on each head's input.

    R(θ) = mean over rows of  max_{‖x̃ − x‖∞ ≤ ε} ℓs(f(x̃), f(x))

where x is the head's input (`MultitaskBert.features`), f the head (`MultitaskBert.head`) and
ℓs a symmetric divergence between two outputs. The max is approximated as the reference did
(its `smart_regularization.py` over the `smart-pytorch` package): start from Gaussian noise of
scale `NOISE_VAR`, take `NUM_STEPS` ascent step of size `STEP_SIZE` on ℓ, renormalise the noise
by its ∞-norm (+ `EPSILON`), and return ℓs at the perturbed input, with gradients into the
model through both outputs. The loss of a batch becomes L + `--smart_weight_regularization` · R.

Written here rather than imported from `smart-pytorch` because that package compares two
outputs as softmax distributions over the last dimension: for the one-output heads (para's
logit, STS's score) the softmax of a single value is 1 and its divergence is identically 0, so
the regulariser would act on SST alone. Here ℓs follows the task: the symmetric KL of the class
distributions (SST), of the two Bernoulli distributions (para), and the squared difference of
the scores (STS, as SMART's paper does for regression). R is a mean over rows (the report's
1/n Σ), so its weight does not depend on the micro-batch size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# the reference's settings (smart_regularization.py)
NUM_STEPS = 1
STEP_SIZE = 1e-5
EPSILON = 1e-6
NOISE_VAR = 1e-6


def _log_probs(output: torch.Tensor, kind: str) -> torch.Tensor:
    """Log-probabilities of the classes: softmax over logits, or [1 − p, p] of a binary logit."""
    output = output.float()
    if kind == "class":
        return F.log_softmax(output, dim=-1)
    logit = output.reshape(-1, 1)
    return torch.cat([F.logsigmoid(-logit), F.logsigmoid(logit)], dim=-1)


def divergence(perturbed: torch.Tensor, clean: torch.Tensor, kind: str, symmetric: bool) -> torch.Tensor:
    """ℓ between two head outputs, a mean over rows. `symmetric`: KL both ways, each with the
    other side detached (as SMART's last step); otherwise KL(clean ‖ perturbed) against a detached clean."""
    if kind == "score":
        return (perturbed.float() - clean.float()).pow(2).sum(-1).mean() * (2.0 if symmetric else 1.0)
    p, q = _log_probs(perturbed, kind), _log_probs(clean, kind)
    forward = F.kl_div(p, q.detach(), log_target=True, reduction="batchmean")
    if not symmetric:
        return forward
    return forward + F.kl_div(q, p.detach(), log_target=True, reduction="batchmean")


def smart_loss(head: Callable[[torch.Tensor], torch.Tensor], features: torch.Tensor, output: torch.Tensor, kind: str) -> torch.Tensor:
    """R for one batch: `head` maps `features` to `output`; `kind` is the task's label kind."""
    noise = (torch.randn_like(features, dtype=torch.float32) * NOISE_VAR).requires_grad_()
    for _ in range(NUM_STEPS):
        loss = divergence(head(features + noise.to(features.dtype)), output.detach(), kind, symmetric=False)
        (grad,) = torch.autograd.grad(loss, noise)
        step = noise + STEP_SIZE * grad
        noise = (step / (step.abs().amax(-1, keepdim=True) + EPSILON)).detach().requires_grad_()
    return divergence(head(features + noise.to(features.dtype)), output, kind, symmetric=True)
