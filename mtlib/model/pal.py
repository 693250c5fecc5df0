"""Projected Attention Layers (Stickland & Murray, 2019, "BERT and PALs", arXiv:1902.02671).

Each task gets a low-rank attention block that runs beside every encoder layer:

    out_l = BertLayer_l(h) + V_D · MultiHeadAttention_l(V_E · h)

`V_E` (hidden -> pal_size) and `V_D` (pal_size -> hidden) are shared across layers for a task,
as in the paper; the attention in the small space is per layer. `V_D` starts at zero, so a fresh
PAL model computes exactly what the plain encoder computes.

The blocks attach to transformers' own `BertLayer`s with forward hooks, so BertModel is not
forked, its parameter names do not change (checkpoints without PAL load as they are), and any
BERT size works. The active task is set per forward pass through `PALBank.task(...)`; a task's
PAL parameters therefore only ever see, and get gradients from, that task's batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


class PALAttention(nn.Module):
    """Multi-head self-attention in the PAL space (one per layer and task)."""

    def __init__(self, size: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(size, 3 * size)
        self.out = nn.Linear(size, size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, s = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, s // self.heads).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :].bool()
        y = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(y.transpose(1, 2).reshape(b, n, s))


class TaskPAL(nn.Module):
    def __init__(self, hidden: int, size: int, heads: int, layers: int):
        super().__init__()
        self.down = nn.Linear(hidden, size, bias=False)  # V_E, shared across layers
        self.up = nn.Linear(size, hidden, bias=False)  # V_D, shared across layers
        nn.init.zeros_(self.up.weight)  # a fresh PAL adds exactly zero
        self.attention = nn.ModuleList(PALAttention(size, heads) for _ in range(layers))

    def forward(self, hidden: torch.Tensor, layer: int, mask: torch.Tensor | None) -> torch.Tensor:
        return self.up(self.attention[layer](self.down(hidden), mask))


class PALBank(nn.Module):
    """Every task's PAL blocks, and the hooks that add them to the encoder's layers."""

    def __init__(self, encoder: nn.Module, tasks: list[str], size: int, heads: int):
        super().__init__()
        layers = encoder.encoder.layer
        hidden = encoder.config.hidden_size
        self.blocks = nn.ModuleDict({t: TaskPAL(hidden, size, heads, len(layers)) for t in tasks})
        self._task: str | None = None
        self._mask: torch.Tensor | None = None
        for i, layer in enumerate(layers):  # the hooks live as long as the encoder: PAL is part of the model
            layer.register_forward_hook(self._hook(i), with_kwargs=True)

    def _hook(self, index: int) -> Any:
        def add_pal(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
            if self._task is None:
                return output
            hidden_in = args[0] if args else kwargs["hidden_states"]
            delta = self.blocks[self._task](hidden_in, index, self._mask).to(hidden_in.dtype)
            if isinstance(output, tuple):
                return (output[0] + delta, *output[1:])
            return output + delta

        return add_pal

    @contextlib.contextmanager
    def task(self, name: str, attention_mask: torch.Tensor | None) -> Iterator[None]:
        self._task, self._mask = name, attention_mask
        try:
            yield
        finally:
            self._task, self._mask = None, None

    def added_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
