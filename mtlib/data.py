"""Reading, validating and batching the CS224N task files.

`read_task_file` reads one tab-separated file (CSV quoting inside), checks every row once and
returns `Examples`; rows with an empty field are dropped and reported, anything else that is
wrong raises `DataError` naming `file:line (column)`. `load_task` gives a task's train/dev/test
splits, using the md5 split of quora-dev.csv when quora-train.csv is absent (see
`../shared/data/README.md`). `encode` tokenizes once; `bucketed_batches` makes length-bucketed
batches; `TaskStream` is a task's resumable, reshuffling stream of training batches.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import paths
from .errors import DataError
from .tasks import TASKS, TaskSpec

MAX_DROPPED_SHARE = 0.01  # more empty-field rows than this means the file itself is wrong
QUORA_SPLIT_NOTE = (
    "quora-train.csv is absent: para trains on the md5 split of quora-dev.csv "
    "(rows with int(md5(id),16) % 5 != 0) and is scored on the held-out fifth (% 5 == 0)"
)


@dataclass
class DroppedRow:
    file: str
    line: int
    column: str
    reason: str


@dataclass
class Examples:
    """Validated rows of one split of one task."""

    task: str
    split: str
    source: str
    ids: list[str]
    texts: list[tuple[str, ...]]
    labels: np.ndarray | None  # None for the unlabelled test files
    dropped: list[DroppedRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray | list[int], split: str | None = None, source: str | None = None) -> Examples:
        index = list(index)
        return Examples(
            task=self.task,
            split=split or self.split,
            source=source or self.source,
            ids=[self.ids[i] for i in index],
            texts=[self.texts[i] for i in index],
            labels=None if self.labels is None else self.labels[index],
            dropped=self.dropped,
        )


def resolve_data_dir(setting: str = "") -> Path:
    """The data folder: the setting, else $MTLIB_DATA_DIR, else data/; relative to the project
    root, whatever the working directory (`mtlib.paths`)."""
    return paths.data_dir(setting)


def check_data_dir(path: Path) -> None:
    if not path.is_dir():
        raise DataError(
            f"data folder {path.resolve()} does not exist",
            hint=f"run `make data` in {paths.project_root()} (fills data/ from $DATA_MIRROR or a download), "
            "or point $MTLIB_DATA_DIR / --data_dir at the task files",
        )
    if not any(path.iterdir()):
        raise DataError(
            f"data folder {path.resolve()} is empty",
            hint=f"run `make data` in {paths.project_root()}, or point $MTLIB_DATA_DIR / --data_dir at the task files",
        )


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"byte {raw[exc.start]:#04x} at character {col} is not UTF-8",
            path,
            line,
            hint="the task files are UTF-8; re-export the file as UTF-8",
        ) from None


def _parse_label(spec: TaskSpec, text: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"label {text!r} is not a number", path, line, spec.label_column, hint=f"{spec.title} labels are numbers in {spec.label_range}"
        ) from None
    low, high = spec.label_range
    if not np.isfinite(value) or not (low <= value <= high):
        raise DataError(f"label {text!r} is outside {low}..{high}", path, line, spec.label_column, hint="fix or remove the row")
    if spec.is_classification and not float(value).is_integer():
        raise DataError(f"label {text!r} is not a whole class number", path, line, spec.label_column)
    return value


def read_task_file(spec: TaskSpec, path: str | Path, split: str, labelled: bool = True) -> Examples:
    """Read and validate one CS224N task file.

    The header names the columns; `id`, the text column(s) and (when `labelled`) the label
    column must be present. Columns are found by name, so the extra leading column of
    ids-sst-test-student.csv needs no special case.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{spec.title} {split} file is missing", path, hint="run `make data`, or set MTLIB_DATA_DIR / --data_dir")
    text = _decode(path.read_bytes(), path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quotechar='"', strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("file is empty (no header line)", path, 1, hint="the first line must name the columns") from None
    except csv.Error as exc:
        raise DataError(f"header is not valid tab-separated text ({exc})", path, 1) from None
    header = [h.strip() for h in header]
    needed = ["id", *spec.text_columns] + ([spec.label_column] if labelled else [])
    missing = [c for c in needed if c not in header]
    if missing:
        raise DataError(
            f"header lacks column(s) {missing}; it has {header}",
            path,
            1,
            hint=f"{spec.title} files need the columns {needed}",
        )
    where = {c: header.index(c) for c in needed}
    ids: list[str] = []
    texts: list[tuple[str, ...]] = []
    labels: list[float] = []
    dropped: list[DroppedRow] = []
    first_line: dict[str, int] = {}
    line = 1
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(
                f"broken quoting or bad character ({exc})", path, start, hint="fields with quotes must be quoted CSV-style"
            ) from None
        line = start
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataError(
                f"row has {len(row)} tab-separated fields, the header has {len(header)}",
                path,
                line,
                hint="a stray tab or a missing field; quote fields that contain tabs",
            )
        merged = next((c for c, i in where.items() if "\t" in row[i] or "\n" in row[i]), None)
        if merged is not None:
            raise DataError(
                f"the field holds line breaks or tabs: an unmatched double quote here swallowed lines {line} to {reader.line_num}",
                path,
                line,
                merged,
                hint='close the quote, double it ("") inside a quoted field, or remove it',
            )
        values = {c: row[i].strip() for c, i in where.items()}
        if values["id"] in first_line:
            raise DataError(
                f"id {values['id']!r} is used twice in this file (first at line {first_line[values['id']]})",
                path,
                line,
                "id",
                hint="ids key the prediction files: each row needs its own",
            )
        first_line.setdefault(values["id"], line)
        empty = [c for c, v in values.items() if not v]
        if empty:
            dropped.append(DroppedRow(str(path), line, empty[0], "empty field"))
            continue
        ids.append(values["id"])
        texts.append(tuple(values[c] for c in spec.text_columns))
        if labelled:
            labels.append(_parse_label(spec, values[spec.label_column], path, line))
    total = len(ids) + len(dropped)
    if total == 0:
        raise DataError("file has a header but no rows", path, 2)
    if dropped:
        if not ids or len(dropped) > max(10, MAX_DROPPED_SHARE * total):
            first = dropped[0]
            raise DataError(
                f"{len(dropped)} of {total} rows have an empty field (first: line {first.line}, column {first.column!r})",
                path,
                hint="the file looks damaged; check it against the md5 sums in data/README.md",
            )
        shown = ", ".join(f"line {d.line} ({d.column})" for d in dropped[:5])
        warnings.warn(f"{path}: dropped {len(dropped)} row(s) with an empty field: {shown}", DataWarning, stacklevel=2)
    label_array = np.asarray(labels, dtype=np.float32) if labelled else None
    return Examples(spec.name, split, str(path), ids, texts, label_array, dropped)


class DataWarning(UserWarning):
    pass


def quora_held_out(example_id: str) -> bool:
    """The held-out fifth of the quora-dev split: int(md5(id), 16) % 5 == 0."""
    return int(hashlib.md5(example_id.encode("utf-8")).hexdigest(), 16) % 5 == 0


def cap_rows(examples: Examples, cap: int, seed: int) -> Examples:
    """At most `cap` rows (0: all), drawn by the seed: the rows --max_train_examples and
    --max_eval_examples keep, so every tool that caps a split keeps the same rows."""
    if not cap or len(examples) <= cap:
        return examples
    rng = np.random.default_rng([seed, 101])
    return examples.subset(np.sort(rng.choice(len(examples), cap, replace=False)))


def load_task(spec: TaskSpec, data_dir: Path, splits: tuple[str, ...] = ("train", "dev", "test")) -> tuple[dict[str, Examples], list[str]]:
    """The task's splits, and notes to record (e.g. the quora fallback split)."""
    out: dict[str, Examples] = {}
    notes: list[str] = []
    fallback = spec.train_from_dev_split and not (data_dir / spec.files["train"]).exists()
    if fallback:
        notes.append(QUORA_SPLIT_NOTE)
        full = read_task_file(spec, data_dir / spec.files["dev"], "dev")
        held = np.array([quora_held_out(i) for i in full.ids])
        if "train" in splits:
            out["train"] = full.subset(np.flatnonzero(~held), "train", full.source + " [md5 split: train part]")
        if "dev" in splits:
            out["dev"] = full.subset(np.flatnonzero(held), "dev", full.source + " [md5 split: held-out part]")
    for split in splits:
        if split in out:
            continue
        path = data_dir / spec.files[split]
        if split == "test" and not path.exists():
            notes.append(f"{spec.files[split]} is absent: no {spec.name} test predictions (the file is written with its header only)")
            out[split] = Examples(spec.name, split, str(path), [], [], None)
            continue
        out[split] = read_task_file(spec, path, split, labelled=split != "test")
    leaks = shared_between_splits(out)
    if leaks:
        warnings.warn(f"{spec.name}: {leaks}", DataWarning, stacklevel=2)
    return out, notes


def shared_between_splits(splits: dict[str, Examples]) -> str:
    """Ids and whole examples that the training split shares with dev or test (a leak), as one
    line of counts; empty when there are none. (A sentence reused in a new pair is not a leak:
    notebook 01 counts those.)"""
    train = splits.get("train")
    if train is None:
        return ""
    ids, texts = set(train.ids), {tuple(t.lower() for t in x) for x in train.texts}
    found = []
    for name in ("dev", "test"):
        other = splits.get(name)
        if other is None:
            continue
        same_id = sum(i in ids for i in other.ids)
        same_text = sum(tuple(t.lower() for t in x) in texts for x in other.texts)
        if same_id or same_text:
            found.append(f"{name} shares {same_id} id(s) and {same_text} identical example(s) with train")
    return "; ".join(found)


def md5_of(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    `multiple` tokens (compiled graphs are reused per width; mtlib.compiling). Bi-encoded pairs
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
