"""Head parts beyond the (dropout, linear, activation) blocks of `mtlib.model.multitask_bert.make_head`.

- `RecurrentReader`: an RNN or LSTM over the encoder's token states, as in the reference
  report's Table 2, third block. With `with_cls` (the "+ [CLS] embed." rows) it reads the
  tokens after [CLS] and puts its last hidden state beside the pooled [CLS] representation;
  without (the plain "RNN 128" row) it reads every token and its last hidden state alone is
  the head's input. The last hidden state is the one at each row's last real token (the
  padding is packed away).
- `Adjustment`: the SST adjustment matrix (report section 3.4.2): a 5 x 5 affine map on the
  class logits, starting as the identity, trained alone by `--option optimize` with everything
  else frozen (the reference's `--option optimize`, which applies it to the logits).

Which tasks get which part is the `ModelSpec`'s (`recurrent_tasks`, `adjusted_tasks`), so a
checkpoint rebuilds the same architecture.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..config import methods


class RecurrentReader(nn.Module):
    def __init__(self, kind: str, width: int, hidden: int, with_cls: bool):
        super().__init__()
        layer = methods.behaviour(methods.method("head_rnn", kind))  # torch.nn.RNN or LSTM (mtlib.config.method_table)
        self.rnn = layer(width, hidden, batch_first=True)
        self.with_cls = with_cls

    def out_width(self, width: int) -> int:
        """The width of the head input this reader produces from a `width`-wide pooled vector."""
        return self.rnn.hidden_size + (width if self.with_cls else 0)

    def forward(self, pooled: torch.Tensor, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The RNN's last state over the token states; with `with_cls`, the [CLS] embedding beside it:
        `pooled` when the model pools [CLS] (`--pooling cls` or `pooler`, as the caller passes it),
        else the [CLS] token's own last hidden state, never a mean over the tokens."""
        if self.with_cls:  # [CLS] goes beside, not through, the RNN
            states, attention_mask = states[:, 1:], attention_mask[:, 1:]
        lengths = attention_mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(states.float(), lengths, batch_first=True, enforce_sorted=False)
        with torch.autocast(device_type=states.device.type, enabled=False):
            _, last = self.rnn(packed)
        last = (last[0] if isinstance(last, tuple) else last)[-1]  # LSTM: (h, c)
        return torch.cat([pooled.float(), last], dim=-1) if self.with_cls else last


class Adjustment(nn.Linear):
    """An n x n affine map of the logits, starting as the identity (the model is unchanged until trained)."""

    def __init__(self, n: int):
        super().__init__(n, n)
        with torch.no_grad():
            self.weight.copy_(torch.eye(n))
            self.bias.zero_()
