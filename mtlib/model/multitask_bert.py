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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import methods
from ..config.tasks import TASKS, pair_mode
from .heads import Adjustment, RecurrentReader
from .pal import PALBank
from .pooling import mean_pool  # noqa: F401 (importable from here, as before)


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
    head_rnn: str = "none"  # none | rnn | lstm (`mtlib.model.heads.RecurrentReader`)
    head_rnn_hidden: int = 128
    head_rnn_tasks: list[str] = field(default_factory=list)  # empty: every task
    head_rnn_cls: bool = True  # the pooled [CLS] beside the RNN's last state
    sst_adjustment: bool = False  # an identity-initialised matrix on the class logits (`mtlib.model.heads.Adjustment`)
    extra: dict[str, Any] = field(default_factory=dict)  # provenance, e.g. mtlib.use.convert's source file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_head(hidden: int, outputs: int, n_hidden_layers: int, dropout: float, activation: str = "gelu") -> nn.Sequential:
    layers: list[nn.Module] = []
    act = methods.behaviour(methods.method("head_activation", activation))  # torch.nn.GELU or ReLU (mtlib.config.method_table)
    for _ in range(n_hidden_layers):
        layers += [nn.Dropout(dropout), nn.Linear(hidden, hidden), act()]
    layers += [nn.Dropout(dropout), nn.Linear(hidden, outputs)]
    return nn.Sequential(*layers)


class MultitaskBert(nn.Module):
    def __init__(self, encoder: nn.Module, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.encoder = encoder
        self.graph_step: Callable[[], None] | None = None  # set by mtlib.model.compiling for CUDA graphs
        self.pooling = methods.method("pooling", spec.pooling)  # its row in the registry (mtlib.config.method_table)
        self.pool = methods.behaviour(self.pooling)  # mtlib.model.pooling
        hidden = encoder.config.hidden_size
        self._bi_tasks = frozenset(t for t in spec.tasks if TASKS[t].is_pair and pair_mode(spec.pair_encoding, t) == "bi")
        self.heads = nn.ModuleDict()
        self.recurrent = nn.ModuleDict(
            {t: RecurrentReader(spec.head_rnn, hidden, spec.head_rnn_hidden, spec.head_rnn_cls) for t in self.recurrent_tasks}
        )
        self.adjust = nn.ModuleDict(
            {t: Adjustment(TASKS[t].num_outputs) for t in spec.tasks if spec.sst_adjustment and TASKS[t].label_kind == "class"}
        )
        self.eval_parts: set[str] = set()  # frozen parts kept in eval mode (no dropout); see `freeze`
        for t in spec.tasks:
            width = 2 * hidden if self.bi_encoded(t) else hidden
            if t in self.recurrent:
                width = self.recurrent[t].out_width(width)
            self.heads[t] = make_head(width, TASKS[t].num_outputs, spec.n_hidden_layers, spec.hidden_dropout_prob, spec.head_activation)
            if self.bi_encoded(t) and spec.n_hidden_layers == 0:
                scale, offset = TASKS[t].cosine_init
                with torch.no_grad():
                    out = self.heads[t][-1]
                    out.weight.zero_()
                    out.weight[:, :hidden] = scale
                    out.bias.fill_(offset)
        self.pal = PALBank(encoder, spec.tasks, spec.pal_size, spec.pal_heads) if spec.use_pal else None

    @property
    def recurrent_tasks(self) -> list[str]:
        return methods.recurrent_tasks(self.spec.head_rnn, self.spec.tasks, self.spec.head_rnn_tasks)

    def bi_encoded(self, task: str) -> bool:
        """Whether this task's pairs are encoded one sentence at a time."""
        return task in self._bi_tasks

    # ---- parameter groups ------------------------------------------------------------------
    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every task's loss flows through (the encoder): the ones projections act on.
        The BERT pooler is left out unless the pooling uses it (`--pooling pooler`): no loss reaches it otherwise."""
        use_pooler = self.pooling.uses_pooler
        return [p for n, p in self.encoder.named_parameters() if p.requires_grad and (use_pooler or not n.startswith("pooler."))]

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """The trainable parameters of `task` alone: its head (with its RNN and adjustment) and PAL block."""
        params = list(self.heads[task].parameters())
        for part in (self.recurrent, self.adjust):
            if task in part:
                params += list(part[task].parameters())
        if self.pal is not None:
            params += list(self.pal.blocks[task].parameters())
        return [p for p in params if p.requires_grad]

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) the encoder, leaving the other parts trainable. A frozen
        encoder runs in eval mode (no dropout), so the heads of the pretrain stages learn from
        fixed features (`freeze(keep_dropout={"encoder"})`: as the reference, with its dropout)."""
        self.freeze(encoder=frozen)

    def _parts(self) -> dict[str, list[nn.Module]]:
        return {
            "encoder": [self.encoder],
            "heads": [self.heads, self.recurrent],
            "pal": [self.pal] if self.pal is not None else [],
            "adjustment": [self.adjust],
        }

    def freeze(
        self, encoder: bool = False, heads: bool = False, pal: bool = False, adjustment: bool = False, keep_dropout: Any = ()
    ) -> None:
        """Freeze the parts passed True and unfreeze the others. A frozen part runs in eval
        mode (no dropout) unless it is named in `keep_dropout`."""
        frozen = {"encoder": encoder, "heads": heads, "pal": pal, "adjustment": adjustment}
        self.eval_parts = set()
        for name, modules in self._parts().items():
            for module in modules:
                for p in module.parameters():
                    p.requires_grad_(not frozen[name])
            if frozen[name] and name not in keep_dropout:
                self.eval_parts.add(name)
        self.encoder_frozen = encoder
        self.train(self.training)

    def train(self, mode: bool = True) -> MultitaskBert:
        super().train(mode)
        parts = self._parts()
        for name in getattr(self, "eval_parts", ()):
            for module in parts[name]:
                module.eval()
        return self

    # ---- forward ---------------------------------------------------------------------------
    def encode(self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        return self._encode(task, input_ids, attention_mask, token_type_ids)[0]

    def _encode(
        self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled representation, token states)."""
        context = self.pal.task(task, attention_mask) if self.pal is not None else contextlib.nullcontext()
        if self.graph_step is not None:  # CUDA graphs: each encoder call is a new graph step (mtlib.model.compiling)
            self.graph_step()
        with context:
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.pool(out, attention_mask), out.last_hidden_state

    def features(
        self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor, **_: Any
    ) -> torch.Tensor:
        """The head's input: the pooled representation ([u*v, |u-v|] for a bi-encoded pair
        batch of 2B rows), with the recurrent reader's last state beside it where the task has one."""
        pooled, states = self._encode(task, input_ids, attention_mask, token_type_ids)
        if self.bi_encoded(task):
            u, v = F.normalize(pooled.float(), dim=-1).chunk(2)
            pooled = torch.cat([u * v, (u - v).abs()], dim=-1)
        if task in self.recurrent:  # the [CLS] embedding beside the RNN: the pooled [CLS], or the [CLS] token's state
            cls = pooled if self.pooling.pools_cls else states[:, 0]
            pooled = self.recurrent[task](cls, states, attention_mask)
        return pooled

    def head(self, task: str, features: torch.Tensor) -> torch.Tensor:
        """The head on `features` (`features()`), then the task's adjustment matrix if it has one."""
        output = self.heads[task](features)
        return self.adjust[task](output) if task in self.adjust else output

    def forward(
        self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor, **_: Any
    ) -> torch.Tensor:
        """Raw head output: logits (SST, para) or the pre-squash STS score. A bi-encoded pair
        batch holds 2B rows (B first sentences, then B second sentences)."""
        return self.head(task, self.features(task, input_ids, attention_mask, token_type_ids))

    def count_parameters(self) -> dict[str, int]:
        counts = {"encoder": sum(p.numel() for p in self.encoder.parameters())}
        counts["heads"] = sum(p.numel() for part in (self.heads, self.recurrent, self.adjust) for p in part.parameters())
        counts["pal"] = self.pal.added_parameters() if self.pal is not None else 0
        return counts
