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

from ..batching import TaskStream
from ..config import Config
from ..errors import Interrupted  # noqa: F401 (re-exported: the loop raises it)


@dataclass
class Phase:
    """One training phase: the tasks it trains and whether the encoder is frozen."""

    name: str
    tasks: list[str]
    frozen_encoder: bool


def phases_of(cfg: Config) -> list[Phase]:
    option, tasks = cfg.train.option, cfg.data.tasks
    if option == "individual_pretrain":
        return [Phase(f"individual_pretrain:{t}", [t], True) for t in tasks]
    return [Phase(stage_label(cfg), list(tasks), option == "pretrain")]


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


@dataclass
class PhaseParts:
    """The objects one phase trains with; each keeps its own state for `--resume`."""

    optimizer: torch.optim.Optimizer
    lr_schedule: Any  # a torch LR scheduler
    method: Any  # a `mtlib.gradients` method
    scheduler: Any  # a `mtlib.schedulers` task scheduler
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
