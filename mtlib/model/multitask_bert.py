"""`MultitaskBert`: one shared BERT encoder, one head per task, optional PAL blocks.

A head is `n_hidden_layers` x (dropout, linear, activation) followed by dropout and the output
layer (5 logits for SST, 1 logit for para, 1 score for STS); the activation is GELU, or ReLU as
in the reference project (`head_activation`).

Pairs are cross-encoded by default (`pair_encoding="cross"`): the encoder sees
`[CLS] s1 [SEP] s2 [SEP]`, so one representation serves both single sentences and pairs. With
`pair_encoding="bi"` each sentence is encoded on its own (SBERT style) into unit vectors u and v,
and the pair head reads [u*v, |u-v|]. Its output layer starts as an affine map of cos(u, v) (the
sum of u*v), with the task's `cosine_init` scale and offset, so a bi-encoded pair head begins
where a sentence encoder's zero-shot cosine is, and training moves on from there.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.tasks import TASKS, pair_mode
from .pal import PALBank


@dataclass
class ModelSpec:
    """What is needed to rebuild the model's architecture from a checkpoint (stored as JSON)."""

    encoder_name: str
    encoder_config: dict[str, Any]
    tasks: list[str]
    pooling: str = "mean"
    n_hidden_layers: int = 0
    hidden_dropout_prob: float = 0.1
    use_pal: bool = False
    pal_size: int = 64
    pal_heads: int = 4
    pair_encoding: str = "cross"
    head_activation: str = "gelu"
    extra: dict[str, Any] = field(default_factory=dict)  # provenance, e.g. mtlib.use.convert's source file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of the hidden states over the real (unmasked) tokens of each row."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


def make_head(hidden: int, outputs: int, n_hidden_layers: int, dropout: float, activation: str = "gelu") -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(n_hidden_layers):
        layers += [nn.Dropout(dropout), nn.Linear(hidden, hidden), ACTIVATIONS[activation]()]
    layers += [nn.Dropout(dropout), nn.Linear(hidden, outputs)]
    return nn.Sequential(*layers)


class MultitaskBert(nn.Module):
    def __init__(self, encoder: nn.Module, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self._bi_tasks = frozenset(t for t in spec.tasks if TASKS[t].is_pair and pair_mode(spec.pair_encoding, t) == "bi")
        self.heads = nn.ModuleDict()
        for t in spec.tasks:
            width = 2 * hidden if self.bi_encoded(t) else hidden
            self.heads[t] = make_head(width, TASKS[t].num_outputs, spec.n_hidden_layers, spec.hidden_dropout_prob, spec.head_activation)
            if self.bi_encoded(t) and spec.n_hidden_layers == 0:
                scale, offset = TASKS[t].cosine_init
                with torch.no_grad():
                    out = self.heads[t][-1]
                    out.weight.zero_()
                    out.weight[:, :hidden] = scale
                    out.bias.fill_(offset)
        self.pal = PALBank(encoder, spec.tasks, spec.pal_size, spec.pal_heads) if spec.use_pal else None

    def bi_encoded(self, task: str) -> bool:
        """Whether this task's pairs are encoded one sentence at a time."""
        return task in self._bi_tasks

    # ---- parameter groups ------------------------------------------------------------------
    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every task's loss flows through (the encoder): the ones projections act on.
        The BERT pooler is left out unless `pooling == "pooler"`: no loss reaches it otherwise."""
        use_pooler = self.spec.pooling == "pooler"
        return [p for n, p in self.encoder.named_parameters() if p.requires_grad and (use_pooler or not n.startswith("pooler."))]

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        params = list(self.heads[task].parameters())
        if self.pal is not None:
            params += list(self.pal.blocks[task].parameters())
        return params

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) the encoder. A frozen encoder also runs in eval mode (no
        dropout), so the heads of the pretrain stages learn from fixed features."""
        self.encoder_frozen = frozen
        for p in self.encoder.parameters():
            p.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> MultitaskBert:
        super().train(mode)
        if getattr(self, "encoder_frozen", False):
            self.encoder.eval()
        return self

    # ---- forward ---------------------------------------------------------------------------
    def encode(self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        context = self.pal.task(task, attention_mask) if self.pal is not None else contextlib.nullcontext()
        with context:
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        if self.spec.pooling == "pooler" and out.pooler_output is not None:
            return out.pooler_output
        hidden = out.last_hidden_state
        if self.spec.pooling == "cls":
            return hidden[:, 0]
        return mean_pool(hidden, attention_mask)

    def forward(
        self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor, **_: Any
    ) -> torch.Tensor:
        """Raw head output: logits (SST, para) or the pre-squash STS score. A bi-encoded pair
        batch holds 2B rows (B first sentences, then B second sentences)."""
        pooled = self.encode(task, input_ids, attention_mask, token_type_ids)
        if self.bi_encoded(task):
            u, v = F.normalize(pooled.float(), dim=-1).chunk(2)
            pooled = torch.cat([u * v, (u - v).abs()], dim=-1)
        return self.heads[task](pooled)

    def count_parameters(self) -> dict[str, int]:
        counts = {"encoder": sum(p.numel() for p in self.encoder.parameters())}
        counts["heads"] = sum(p.numel() for p in self.heads.parameters())
        counts["pal"] = self.pal.added_parameters() if self.pal is not None else 0
        return counts
