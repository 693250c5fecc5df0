"""The sentence representation fed to the heads (`--pooling`), one function per pooling, each
declared in the registry (`mtlib.config.method_table`), which names it here.

Each takes the encoder's output and the attention mask and returns one vector per row.
"""

from __future__ import annotations

from typing import Any

import torch


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of the hidden states over the real (unmasked) tokens of each row."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def mean_tokens(out: Any, attention_mask: torch.Tensor) -> torch.Tensor:
    return mean_pool(out.last_hidden_state, attention_mask)


def cls_token(out: Any, attention_mask: torch.Tensor) -> torch.Tensor:
    return out.last_hidden_state[:, 0]


def pooler(out: Any, attention_mask: torch.Tensor) -> torch.Tensor:
    """The encoder's pooler output; the mean of the tokens where the encoder has no pooler."""
    if out.pooler_output is not None:
        return out.pooler_output
    return mean_tokens(out, attention_mask)
