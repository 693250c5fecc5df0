"""What a training stage carries from one update to the next, and how it is saved for `--resume`.

- `Phase`: the tasks a phase trains and whether the encoder is frozen (`phases_of`);
- `LoopState`: counters, the best dev score, the history of dev scores;
- `PhaseParts`: the optimizer, learning-rate schedule, gradient method, task scheduler and the
  task streams of one phase, with `state_dict` / `load_state_dict` as torch objects have;
- the random-number generators' states, so a resumed run draws what the uninterrupted one would.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import methods
from ..config.config import Config
from ..config.tasks import TASK_NAMES, TASKS
from ..data.batching import TaskStream
from ..util.errors import Interrupted  # noqa: F401 (re-exported: the loop raises it)


@dataclass
class Phase:
    """One training phase: the tasks it trains and whether the encoder is frozen."""

    name: str
    tasks: list[str]
    frozen_encoder: bool


def phases_of(cfg: Config) -> list[Phase]:
    option, tasks = cfg.train.option, list(cfg.data.tasks)
    if option == "individual_pretrain":
        return [Phase(f"individual_pretrain:{t}", [t], True) for t in tasks]
    if option == "optimize":  # the adjustment matrices alone (`mtlib.model.heads.Adjustment`)
        return [Phase(option, [t for t in tasks if TASKS[t].label_kind == "class"], True)]
    only = methods.method("task_scheduler", cfg.multitask.task_scheduler).only_task
    if only:  # `--task_scheduler sst`: that task alone
        tasks = [only]
    return [Phase(stage_label(cfg), tasks, option == "pretrain")]


def stage_label(cfg: Config) -> str:
    """What a stage's log lines and metrics records call it: a workbook stage folder
    (`runs/<run>/stages/<stage>/`) its stage's name, so stage 3 (`--option finetune` too) is
    `finetune_vaccine`, not `finetune`; any other run its `--option`."""
    folder = Path(cfg.run.resume or cfg.run.save_path or ".")
    return folder.name if folder.parent.name == "stages" and folder.name else cfg.train.option


@dataclass
class LoopState:
    phase: int = 0
    epoch: int = 1
    update: int = 0  # next update to run within the epoch
    global_step: int = 0
    best: float = -math.inf
    bad_epochs: int = 0
    bad_steps: int = 0
    skipped_steps: int = 0
    task_steps: dict[str, int] = field(default_factory=dict)
    epoch_loss: dict[str, list[float]] = field(default_factory=dict)  # [sum, count] per task
    elapsed: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in LoopState.__dataclass_fields__}

    @classmethod
    def from_saved(cls, saved: Any, source: object, phases: int, epochs: int) -> LoopState:
        """The loop state a `trainer.json` (`source`) recorded, each value checked against the
        run it resumes (`phases` phases of `epochs` epochs): a value out of range is refused in
        one line naming the file and the key, never trained from."""
        if not isinstance(saved, dict):
            raise _refused(source, "(all)", saved, "expected an object of loop counters")
        unknown = sorted(set(saved) - set(cls.__dataclass_fields__))
        if unknown:
            raise _refused(source, unknown[0], saved[unknown[0]], "not a loop counter this mtlib knows")
        bounds = {"phase": (0, phases - 1), "epoch": (1, epochs + 1), "update": (0, None), "global_step": (0, None)}
        bounds |= {k: (0, None) for k in ("bad_epochs", "bad_steps", "skipped_steps")}
        for key, (low, high) in bounds.items():
            value = saved.get(key, getattr(cls(), key))
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
                raise _refused(source, key, value, f"expected a whole number from {low}" + (f" to {high}" if high is not None else " up"))
        for key in ("best", "elapsed"):
            value = saved.get(key, getattr(cls(), key))
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value == math.inf:
                raise _refused(source, key, value, "expected a number")
        if saved.get("elapsed", 0.0) < 0:
            raise _refused(source, "elapsed", saved["elapsed"], "expected a number of seconds from 0 up")
        steps = saved.get("task_steps", {})
        if not isinstance(steps, dict) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in steps.values()):
            raise _refused(source, "task_steps", steps, "expected whole numbers from 0 up, by task")
        if set(steps) - set(TASK_NAMES):
            raise _refused(source, "task_steps", steps, f"expected counts of the tasks {', '.join(TASK_NAMES)}")
        for key, kind in (("epoch_loss", dict), ("history", list)):
            if not isinstance(saved.get(key, kind()), kind):
                raise _refused(source, key, saved[key], f"expected a JSON {'object' if kind is dict else 'list'}")
        return cls(**saved)

    def check_position(self, source: object, per_epoch: int) -> None:
        """The saved position lies inside the phase it resumes, of `per_epoch` updates an epoch:
        the update within the epoch, the steps counted before it (all of them in the first
        phase, where nothing came earlier), the skipped and bad ones among them."""
        done = (self.epoch - 1) * per_epoch + self.update  # this phase's updates before the saved one
        checks = (
            ("update", self.update, self.update <= per_epoch, f"expected at most {per_epoch}, the updates of an epoch of this run"),
            ("global_step", self.global_step, self.global_step >= done and (self.phase > 0 or self.global_step == done),
             f"expected {'at least ' if self.phase else ''}{done}: {self.epoch - 1} epoch(s) of {per_epoch} updates and {self.update}"),
            ("skipped_steps", self.skipped_steps, self.skipped_steps <= self.global_step, "expected at most loop.global_step"),
            ("bad_steps", self.bad_steps, self.bad_steps <= self.skipped_steps, "expected at most loop.skipped_steps"),
            ("bad_epochs", self.bad_epochs, self.bad_epochs < self.epoch, "expected fewer than the epochs done"),
        )  # fmt: skip
        for key, value, ok, rule in checks:
            if not ok:
                raise _refused(source, key, value, rule)


def _refused(source: object, key: str, value: Any, rule: str) -> Exception:
    """A `trainer.json` value the run cannot hold: one line naming the file and the key."""
    from ..util.errors import CheckpointError

    return CheckpointError(
        f"{source}: loop.{key} is {value!r}; {rule}. The saved training state is damaged: start the run again with --overwrite"
    )


@dataclass
class PhaseParts:
    """The objects one phase trains with; each keeps its own state for `--resume`."""

    optimizer: torch.optim.Optimizer
    lr_schedule: Any  # a torch LR scheduler
    method: Any  # a `mtlib.train.gradients` method
    scheduler: Any  # a `mtlib.train.task_schedulers` task scheduler
    streams: dict[str, TaskStream]
    scaler: Any  # the precision's GradScaler (disabled unless fp16)

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "method": self.method.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "streams": {t: s.state_dict() for t, s in self.streams.items()},
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        self.lr_schedule.load_state_dict(saved["lr_schedule"])
        if saved["scaler"]:
            self.scaler.load_state_dict(saved["scaler"])
        self.method.load_state_dict(saved["method"])
        self.scheduler.load_state_dict(saved["scheduler"])
        for t, s in self.streams.items():
            s.load_state_dict(saved["streams"][t])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2])}
    state["python"] = list(random.getstate()[1])
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
