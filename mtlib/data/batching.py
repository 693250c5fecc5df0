"""From validated examples to batches: `encode` tokenizes once; `collate` pads a batch;
`bucketed_batches` makes length-bucketed training batches and `sorted_batches` evaluation
batches; `TaskStream` is a task's resumable, reshuffling stream of training batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config.tasks import TASKS
from .task_files import Examples


# ---- tokenization and batches ----------------------------------------------------------------
@dataclass
class Encoded:
    """Token ids of one split, tokenized once."""

    examples: Examples
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    truncated: int
    second_ids: list[list[int]] | None = None  # bi-encoded pairs: the second sentence's ids

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per example (bi-encoded pairs: the longer sentence, which sets the padding)."""
        first = np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))
        if self.second_ids is None:
            return first
        return np.maximum(first, np.fromiter((len(x) for x in self.second_ids), dtype=np.int64, count=len(self.second_ids)))

    def __len__(self) -> int:
        return len(self.input_ids)


def encode(examples: Examples, tokenizer: Any, max_length: int, pair_encoding: str = "cross") -> Encoded:
    """Tokenize a split. With `pair_encoding="cross"`, pairs become `[CLS] s1 [SEP] s2 [SEP]`
    with segment ids 0/1, through the tokenizer's pair API; with `"bi"`, each sentence of a pair
    is tokenized on its own (`Encoded.second_ids`) and the model encodes them separately.
    Longer inputs are truncated (longest first) and counted."""
    if len(examples) == 0:
        return Encoded(examples, [], [], 0, [] if pair_encoding == "bi" and TASKS[examples.task].is_pair else None)
    columns = list(zip(*examples.texts))
    if pair_encoding == "bi" and len(columns) == 2:
        first, second = (encode(_column(examples, c), tokenizer, max_length) for c in columns)
        return Encoded(examples, first.input_ids, first.token_type_ids, first.truncated + second.truncated, second.input_ids)
    args = [list(columns[0])] + ([list(columns[1])] if len(columns) == 2 else [])
    full = tokenizer(*args, add_special_tokens=True, truncation=False, return_attention_mask=False, return_token_type_ids=False)
    truncated = sum(len(x) > max_length for x in full["input_ids"])
    enc = tokenizer(*args, truncation=True, max_length=max_length, return_attention_mask=False, return_token_type_ids=True)
    return Encoded(examples, enc["input_ids"], enc["token_type_ids"], truncated)


def _column(examples: Examples, column: tuple[str, ...]) -> Examples:
    """One sentence column of a pair split, as a single-sentence split."""
    return Examples(examples.task, examples.split, examples.source, examples.ids, [(t,) for t in column], examples.labels)


def collate(encoded: Encoded, index: np.ndarray | list[int], pad_id: int = 0, multiple: int = 1) -> dict[str, torch.Tensor]:
    """Pad a batch to its own longest example (dynamic padding), rounded up to a multiple of
    `multiple` tokens (compiled graphs are reused per width; mtlib.model.compiling). Bi-encoded pairs
    give 2B rows: the B first sentences, then the B second sentences (the model splits them in half)."""
    index = list(index)
    rows = [encoded.input_ids[i] for i in index]
    segments = [encoded.token_type_ids[i] for i in index]
    if encoded.second_ids is not None:
        rows += [encoded.second_ids[i] for i in index]
        segments += [[0] * len(encoded.second_ids[i]) for i in index]
    width = -(-max(len(r) for r in rows) // multiple) * multiple
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, (tokens, segment) in enumerate(zip(rows, segments)):
        n = len(tokens)
        ids[row, :n] = torch.as_tensor(tokens)
        types[row, :n] = torch.as_tensor(segment)
        mask[row, :n] = 1
    batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "index": torch.as_tensor(index)}
    if encoded.examples.labels is not None:
        batch["labels"] = torch.as_tensor(encoded.examples.labels[index])
    return batch


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool_batches: int = 50) -> list[np.ndarray]:
    """Length-bucketed batches in shuffled order; every index appears exactly once.

    Shuffle, cut into pools of `pool_batches` batches, sort each pool by length, cut the pool
    into batches, then shuffle the batch order: batches hold similar lengths (little padding)
    while the order stays random.
    """
    order = rng.permutation(len(lengths))
    pool = batch_size * pool_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches sorted by length (least padding); order does not matter there."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class TaskStream:
    """A task's endless stream of training batches, reshuffled each pass over the data.

    The order of pass `p` depends only on (seed, task, p), so the stream's whole state is two
    integers and a resumed run sees exactly the batches the interrupted one would have.
    """

    def __init__(self, encoded: Encoded, batch_size: int, seed: int, task_index: int):
        self.encoded, self.batch_size, self.seed, self.task_index = encoded, batch_size, seed, task_index
        self.lengths = encoded.lengths
        self.pass_no, self.position = 0, 0
        self._batches: list[np.ndarray] | None = None

    @property
    def num_batches(self) -> int:
        """Real batches in one pass over this task's training data."""
        return -(-len(self.encoded) // self.batch_size)

    def _order(self) -> list[np.ndarray]:
        if self._batches is None:
            rng = np.random.default_rng([self.seed, self.task_index, self.pass_no])
            self._batches = bucketed_batches(self.lengths, self.batch_size, rng)
        return self._batches

    def next_index(self) -> np.ndarray:
        batches = self._order()
        if self.position >= len(batches):
            self.pass_no, self.position, self._batches = self.pass_no + 1, 0, None
            batches = self._order()
        index = batches[self.position]
        self.position += 1
        return index

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            yield self.next_index()

    def state_dict(self) -> dict[str, int]:
        return {"pass_no": self.pass_no, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.pass_no, self.position, self._batches = int(state["pass_no"]), int(state["position"]), None
