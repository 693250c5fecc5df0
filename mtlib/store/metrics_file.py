"""metrics.jsonl: what a run's records hold, written and read in one place.

Each line of a run's `metrics.jsonl` is one record below, as JSON with its `kind`. The training
loop emits these records (`Start` by the pipeline; `PhaseStart`, `Conflict`, `Skipped` as events
themselves; `Train` and `Dev` inside the `UpdateDone` and `DevScored` events), the core's
recorders write them (`RunDir.log`), TensorBoard reads their fields, and the workbook's tables
(`mtlib.workbook`'s history) read them back through `read`, by type, never by a `kind` string.

Format versions (`Start.format`): 2 since 2026-12-07 (the start line names its version); 1 is every
file written before, the same records without it, read as they are. A newer version than this
mtlib knows, an unknown kind in a versioned file or a record missing a field is refused in one
line naming the file and the line. A line torn by a kill (the last one) is skipped.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..util.errors import ConfigError

FORMAT_VERSION = 2
NAME = "metrics.jsonl"


@dataclass(frozen=True)
class Start:
    """The run (or stage) starts: its option and the notes it was settled with."""

    kind: ClassVar[str] = "start"
    step: int
    option: str
    notes: list[str] = field(default_factory=list)
    format: int = FORMAT_VERSION  # files before version 2 carry none: `read` gives them 1


@dataclass(frozen=True)
class PhaseStart:
    """A phase starts: its tasks' batch counts and how its epochs divide into updates."""

    kind: ClassVar[str] = "phase"
    step: int
    phase: str
    sizes: dict[str, int]
    updates_per_epoch: int
    batches_per_update: int
    batches_per_epoch: int


@dataclass(frozen=True)
class Conflict:
    """Task-gradient cosines were measured (`--conflict_every`): {"sst-para": cos, ...}."""

    kind: ClassVar[str] = "conflict"
    step: int
    cosine: dict[str, float]


@dataclass(frozen=True)
class Skipped:
    """A non-finite loss of `tasks` skipped the update."""

    kind: ClassVar[str] = "skipped"
    step: int
    tasks: list[str]


@dataclass(frozen=True)
class Train:
    """An update: each task's mean loss, its batch count (`tasks`) and the learning rate."""

    kind: ClassVar[str] = "train"
    step: int
    epoch: int
    tasks: dict[str, int]
    loss: dict[str, float]
    lr: float


@dataclass(frozen=True)
class Dev:
    """An epoch's dev scores, their mean, and whether it is the best so far."""

    kind: ClassVar[str] = "dev"
    phase: str
    epoch: int
    step: int
    dev: dict[str, float]
    dev_mean: float
    best: bool


Record = Start | PhaseStart | Conflict | Skipped | Train | Dev
RECORDS: dict[str, type] = {cls.kind: cls for cls in (Start, PhaseStart, Conflict, Skipped, Train, Dev)}


def as_dict(record: Record) -> dict[str, Any]:
    """The record's fields (no `kind`), as its JSON line holds them."""
    return dataclasses.asdict(record)


def to_line(record: Record) -> str:
    return json.dumps({"kind": record.kind, **as_dict(record)}, sort_keys=True, default=float)


def append(folder: Path, record: Record) -> None:
    """One record onto `folder`/metrics.jsonl, flushed and fsynced (a kill loses at most the
    line being written; `read` skips a torn last line)."""
    with open(folder / NAME, "a", encoding="utf-8") as handle:
        handle.write(to_line(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _refused(path: Path, number: int, why: str) -> ConfigError:
    return ConfigError(f"{path}: line {number}: {why}. It is not a metrics.jsonl this mtlib reads; rerun the stage that wrote it")


def _record(path: Path, number: int, data: Any, version: int) -> Record | None:
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise _refused(path, number, "expected a JSON object with a 'kind'")
    cls = RECORDS.get(data["kind"])
    if cls is None:
        if version == 1:
            return None  # an old file's kinds that are no longer written
        raise _refused(path, number, f"unknown record kind {data['kind']!r} (known: {', '.join(RECORDS)})")
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if cls is Start:
        values["format"] = version
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise _refused(path, number, f"a {data['kind']!r} record lacks {', '.join(repr(m) for m in missing)}")
    return cls(**values)


def read(path: str | Path) -> list[Record]:
    """The records of a run folder's (or a file's) metrics.jsonl, typed, in order; [] when absent."""
    path = Path(path)
    if path.is_dir():
        path = path / NAME
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records: list[Record] = []
    version = 1
    for number, line in enumerate(lines, 1):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                continue  # the last line, torn by a kill
            raise _refused(path, number, "not JSON") from None
        if isinstance(data, dict) and data.get("kind") == Start.kind:
            version = data.get("format", 1)
            if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
                raise _refused(path, number, f"format {version!r}, newer than the {FORMAT_VERSION} this mtlib reads (update mtlib)")
        record = _record(path, number, data, version)
        if record is not None:
            records.append(record)
    return records


def of_type(records: list[Record], kind: type) -> list[Any]:
    """The records of one type, in order."""
    return [r for r in records if isinstance(r, kind)]
