"""`MultitaskBert`: one shared BERT encoder, one head per task, optional PAL blocks.

A head is `n_hidden_layers` x (dropout, linear, GELU) followed by dropout and the output layer
(5 logits for SST, 1 logit for para, 1 score for STS). Pairs are cross-encoded: the encoder sees
`[CLS] s1 [SEP] s2 [SEP]`, so one representation serves both single sentences and pairs.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .pal import PALBank
from .tasks import TASKS


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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_head(hidden: int, outputs: int, n_hidden_layers: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(n_hidden_layers):
        layers += [nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.GELU()]
    layers += [nn.Dropout(dropout), nn.Linear(hidden, outputs)]
    return nn.Sequential(*layers)


class MultitaskBert(nn.Module):
    def __init__(self, encoder: nn.Module, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.heads = nn.ModuleDict(
            {t: make_head(hidden, TASKS[t].num_outputs, spec.n_hidden_layers, spec.hidden_dropout_prob) for t in spec.tasks}
        )
        self.pal = PALBank(encoder, spec.tasks, spec.pal_size, spec.pal_heads) if spec.use_pal else None

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
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)

    def forward(
        self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor, **_: Any
    ) -> torch.Tensor:
        """Raw head output: logits (SST, para) or the pre-squash STS score."""
        return self.heads[task](self.encode(task, input_ids, attention_mask, token_type_ids))

    def count_parameters(self) -> dict[str, int]:
        counts = {"encoder": sum(p.numel() for p in self.encoder.parameters())}
        counts["heads"] = sum(p.numel() for p in self.heads.parameters())
        counts["pal"] = self.pal.added_parameters() if self.pal is not None else 0
        return counts
