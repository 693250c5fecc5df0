"""Reading and validating the task files.

`read_task_file` reads one tab-separated file (CSV quoting inside), checks every row once and
returns `Examples`; rows with an empty field are dropped and reported, anything else that is
wrong raises `DataError` naming `file:line (column)`. `load_task` gives a task's train/dev/test
splits, using the md5 split of quora-dev.csv when quora-train.csv is absent (see
`../shared/data/README.md`). Tokenizing and batching are `mtlib.data.batching`'s.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.tasks import DEV_SPLIT_TASKS, TASKS, TaskSpec
from ..util import paths
from ..util.errors import DataError

MAX_DROPPED_SHARE = 0.01  # more empty-field rows than this means the file itself is wrong
QUORA_SPLIT_NOTE = " ".join(TASKS[t].split_note for t in DEV_SPLIT_TASKS)  # the notes of the md5 dev-split fallback


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
    root, whatever the working directory (`mtlib.util.paths`)."""
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
        # One row is one line. A field holding a line break, in any column (the unnamed leading
        # index too), is a double quote that opened here and closed lines later, swallowing the
        # rows between. A tab inside a quoted field on one line is only text, and is kept.
        merged = next((i for i, value in enumerate(row) if "\n" in value or "\r" in value), None)
        if merged is not None:
            raise DataError(
                f"a double quote opened in this field swallowed lines {line} to {reader.line_num} (a field cannot span lines)",
                path,
                line,
                header[merged] or f"#{merged + 1}, unnamed",
                hint='close the quote on its own line, double it ("") inside a quoted field, or remove it',
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
