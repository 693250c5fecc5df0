"""What the training loop announces, one type per event (the payload of each hook).

A recorder registers one function per event it cares about, as minGPT's `register_callback`
does, but keyed by the event's type rather than a string:

    trainer.register_callback(DevScored, lambda e: print(e.record.dev_mean))

The events that metrics.jsonl records are its records (`mtlib.store.metrics_file`): `PhaseStart`,
`Conflict` and `Skipped` are announced as they are, `UpdateDone` and `DevScored` carry a `Train`
and a `Dev` record beside what only the live recorders need.

They run on rank 0 only (the Trainer announces there): metrics.jsonl and TensorBoard are one per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..store.metrics_file import Conflict, Dev, PhaseStart, Skipped, Train

E = TypeVar("E")


@dataclass(frozen=True)
class FitStarted:
    """`fit()` begins (before the first phase, or the resumed one)."""


@dataclass(frozen=True)
class UpdateDone:
    """An update ended: its `Train` record (None when a non-finite loss skipped it, see `Skipped`)
    and each task's training steps so far (TensorBoard's per-task axis)."""

    step: int
    train: Train | None
    task_steps: dict[str, int]


@dataclass(frozen=True)
class DevScored:
    """An epoch's dev scores (`record`), the predictions behind them, the epoch's summed losses."""

    record: Dev
    predictions: dict[str, Any]
    epoch_loss: dict[str, list]


@dataclass(frozen=True)
class EpochEnded:
    """The epoch is over and every rank has passed the barrier (its dev record)."""

    record: Dev


# a phase's start, a conflict probe and a skipped update are announced as their records themselves
EVENTS = (FitStarted, PhaseStart, Conflict, Skipped, UpdateDone, DevScored, EpochEnded)


class Hooks(Protocol):
    """What a recorder needs of the loop: `register_callback` (the Trainer has it)."""

    def register_callback(self, event: type[E], fn: Callable[[E], None]) -> None: ...
