"""A BERT encoder for inference in plain torch (Devlin et al. 2019, arXiv:1810.04805), for the
one-answer command line.

`python -m mtlib predict --text "..."` spent most of its seconds importing transformers'
`modeling_bert` (it pulls `modeling_utils`, `torch.distributed.tensor`, `torch._dynamo`, sympy:
about 4 CPU-s on the 2-core machine, benchmarks/README.md), not answering. `LeanBert` computes
what `transformers.BertModel` computes in eval mode: embeddings (word + position + token type,
LayerNorm), then per layer self-attention (`scaled_dot_product_attention` with the padding mask),
output dense + residual + LayerNorm, intermediate + the config's `hidden_act`, output dense +
residual + LayerNorm, and the pooler (dense + tanh of the first token). Its modules carry
BertModel's names, so a checkpoint's `encoder.*` weights load as they are, and PAL's hooks
(`mtlib.model.pal`) attach to its `encoder.layer` as they attach to BertModel's.

It has no dropout, no training, no cache and no cross-attention, and no initialisation: its
parameters are uninitialised memory until a checkpoint's weights are loaded into it (drawing
MiniLM's 22M random values only to overwrite them costs about half a CPU-second).
`unsupported(config)` says why a config needs transformers' BertModel instead, and
`mtlib.run.loading.load_model` falls back to it then. tests/test_lean_predict.py checks the hidden states against BertModel's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def _gelu_new(x: torch.Tensor) -> torch.Tensor:  # transformers' NewGELUActivation, the same formula
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTIVATIONS = {
    "gelu": F.gelu,
    "relu": F.relu,
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


@dataclass
class LeanBertConfig:
    """The fields of a saved BertConfig (model.json's `encoder_config`) that the forward reads."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> LeanBertConfig:
        return cls(**{f.name: config[f.name] for f in fields(cls) if config.get(f.name) is not None})


def unsupported(config: dict[str, Any]) -> str:
    """Why `LeanBert` cannot compute what BertModel computes for `config` ("" when it can)."""
    if config.get("model_type", "bert") != "bert":
        return f"model_type {config.get('model_type')!r} is not bert"
    if config.get("position_embedding_type", "absolute") not in (None, "absolute"):
        return f"position_embedding_type {config['position_embedding_type']!r}"
    if config.get("is_decoder") or config.get("add_cross_attention"):
        return "a decoder or cross-attention config"
    act = config.get("hidden_act", "gelu")
    if not isinstance(act, str) or act not in ACTIVATIONS:
        return f"hidden_act {act!r} (lean: {', '.join(ACTIVATIONS)})"
    hidden, heads = config.get("hidden_size", 768), config.get("num_attention_heads", 12)
    if heads < 1 or hidden % heads:
        return f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}"
    return ""


class Linear(nn.Linear):
    def reset_parameters(self) -> None:  # loaded from a checkpoint, never drawn
        pass


class Embedding(nn.Embedding):
    def reset_parameters(self) -> None:  # loaded from a checkpoint, never drawn
        pass


class EncoderOutput(NamedTuple):
    """The two fields of transformers' output that `MultitaskBert` reads."""

    last_hidden_state: torch.Tensor
    pooler_output: torch.Tensor | None


class Embeddings(nn.Module):
    def __init__(self, c: LeanBertConfig):
        super().__init__()
        self.word_embeddings = Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(positions)
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, c: LeanBertConfig):
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = Linear(c.hidden_size, c.hidden_size)
        self.key = Linear(c.hidden_size, c.hidden_size)
        self.value = Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (layer(x).view(b, n, self.heads, d // self.heads).transpose(1, 2) for layer in (self.query, self.key, self.value))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # scale 1/sqrt(head size), as BERT's
        return y.transpose(1, 2).reshape(b, n, d)


class DenseResidual(nn.Module):
    """dense -> + residual -> LayerNorm: BertSelfOutput and BertOutput (no dropout in eval)."""

    def __init__(self, d_in: int, d_out: int, eps: float):
        super().__init__()
        self.dense = Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, c: LeanBertConfig):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseResidual(c.hidden_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, c: LeanBertConfig):
        super().__init__()
        self.dense = Linear(c.hidden_size, c.intermediate_size)
        self.act = ACTIVATIONS[c.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c: LeanBertConfig):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseResidual(c.intermediate_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        attended = self.attention(hidden_states, mask)
        return self.output(self.intermediate(attended), attended)


class Encoder(nn.Module):
    def __init__(self, c: LeanBertConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))


class Pooler(nn.Module):
    def __init__(self, c: LeanBertConfig):
        super().__init__()
        self.dense = Linear(c.hidden_size, c.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class LeanBert(nn.Module):
    """BertModel's inference forward, with BertModel's parameter names (and its pooler)."""

    def __init__(self, config: dict[str, Any] | LeanBertConfig):
        super().__init__()
        if isinstance(config, dict):
            reason = unsupported(config)
            if reason:
                raise ValueError(f"LeanBert cannot run this encoder: {reason}")
            config = LeanBertConfig.from_dict(config)
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None
    ) -> EncoderOutput:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.embeddings(input_ids, token_type_ids)
        # a boolean mask over the keys (True: attend); none when no row is padded, as transformers skips it then
        mask = None if attention_mask is None or bool(attention_mask.all()) else attention_mask[:, None, None, :].bool()
        for layer in self.encoder.layer:
            hidden = layer(hidden, mask)
        return EncoderOutput(hidden, self.pooler(hidden))
