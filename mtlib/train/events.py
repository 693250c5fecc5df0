"""What the training loop announces, one type per event (the payload of each hook).

A recorder registers one function per event it cares about, as minGPT's `register_callback`
does, but keyed by the event's type rather than a string:

    trainer.register_callback(DevScored, lambda e: print(e.record["dev_mean"]))

They run on rank 0 only (the Trainer announces there): metrics.jsonl and TensorBoard are one per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

E = TypeVar("E")


@dataclass(frozen=True)
class FitStarted:
    """`fit()` begins (before the first phase, or the resumed one)."""


@dataclass(frozen=True)
class PhaseStarted:
    """A phase starts: its tasks' batch counts and how its epochs divide into updates."""

    step: int
    phase: str
    sizes: dict[str, int]
    updates_per_epoch: int
    batches_per_update: int

    def record(self) -> dict[str, Any]:  # metrics.jsonl's "phase" line
        return dict(
            step=self.step,
            phase=self.phase,
            sizes=self.sizes,
            updates_per_epoch=self.updates_per_epoch,
            batches_per_update=self.batches_per_update,
            batches_per_epoch=self.updates_per_epoch * self.batches_per_update,
        )


@dataclass(frozen=True)
class ConflictMeasured:
    """Task-gradient cosines were measured (`--conflict_every`): {"sst-para": cos, ...}."""

    step: int
    cosine: dict[str, float]


@dataclass(frozen=True)
class UpdateSkipped:
    """A non-finite loss of `tasks` skipped the update."""

    step: int
    tasks: list[str]


@dataclass(frozen=True)
class UpdateDone:
    """An update ended: its task losses (empty when skipped), batch counts and learning rate."""

    step: int
    epoch: int
    losses: dict[str, float]
    counts: dict[str, int]
    lr: float
    task_steps: dict[str, int]


@dataclass(frozen=True)
class DevScored:
    """An epoch's dev scores (`record`), the predictions behind them, the epoch's summed losses."""

    record: dict[str, Any]
    predictions: dict[str, Any]
    epoch_loss: dict[str, list]


@dataclass(frozen=True)
class EpochEnded:
    """The epoch is over and every rank has passed the barrier (its dev record)."""

    record: dict[str, Any]


EVENTS = (FitStarted, PhaseStarted, ConflictMeasured, UpdateSkipped, UpdateDone, DevScored, EpochEnded)


class Hooks(Protocol):
    """What a recorder needs of the loop: `register_callback` (the Trainer has it)."""

    def register_callback(self, event: type[E], fn: Callable[[E], None]) -> None: ...
