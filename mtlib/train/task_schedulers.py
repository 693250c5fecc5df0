"""Which task the next batch comes from, and which batches make up an update.

A scheduler is a small object: `next_task()` draws a task, `probabilities()` says with which
probabilities, `set_epoch(e)` lets annealed schedules move, and `state_dict()` makes a run
resumable. Sizes `N_t` are always the **real** number of training batches of each task, never
an overridden epoch length.

- `round_robin`: t0, t1, t2, t0, ...
- `random`: uniform over tasks.
- `proportional`: p_t ∝ N_t.
- `temperature`: p_t ∝ N_t^(1/T) (T=1 proportional, T→∞ uniform).
- `weighted`: p_t ∝ w_t, the shares given by `--schedule_weights` (e.g. sst=2,para=1,sts=1).
- `pal`: annealed sampling of Stickland & Murray (2019): p_t ∝ N_t^α with
  α = 1 − 0.8·(e − 1)/(E − 1) in epoch e of E (1-based): proportional at first, near uniform last.
  A one-epoch stage samples with α = 0.2, the end point, as the reference project's scheduler did.
- `sst`, `para`, `sts`: that task alone (the reference's single-task schedulers; the phase
  trains and scores that task only, `mtlib.train.state.phases_of`).

Each is declared once, torch-free, in the registry (`mtlib.config.method_table`: its name,
help, the config fields it reads, its checks); `make_scheduler` finds its class there by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import methods


class TaskScheduler:
    """The plumbing every scheduler shares; its name is its row in `mtlib.config.method_table`."""

    def __init__(
        self,
        tasks: list[str],
        sizes: dict[str, int],
        seed: int = 0,
        epochs: int = 1,
        temperature: float = 2.0,
        weights: dict[str, float] | None = None,
    ):
        self.tasks = list(tasks)
        self.weights = np.array([float((weights or {}).get(t, 1.0)) for t in self.tasks])
        self.sizes = np.array([max(int(sizes[t]), 1) for t in self.tasks], dtype=float)
        self.epochs, self.temperature = max(int(epochs), 1), temperature
        self.epoch = 1
        self.rng = np.random.default_rng([seed, 7919])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def probabilities(self) -> np.ndarray:
        raise NotImplementedError

    def next_task(self) -> str:
        return self.tasks[int(self.rng.choice(len(self.tasks), p=self.probabilities()))]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.rng.bit_generator.state = state["rng"]


class RoundRobin(TaskScheduler):
    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.position = 0

    def probabilities(self) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))

    def next_task(self) -> str:
        task = self.tasks[self.position % len(self.tasks)]
        self.position += 1
        return task

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.position = int(state["position"])


class Uniform(TaskScheduler):
    def probabilities(self) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))


def _power(sizes: np.ndarray, alpha: float) -> np.ndarray:
    weights = sizes**alpha
    return weights / weights.sum()


class Proportional(TaskScheduler):
    def probabilities(self) -> np.ndarray:
        return _power(self.sizes, 1.0)


class Temperature(TaskScheduler):
    def probabilities(self) -> np.ndarray:
        return _power(self.sizes, 1.0 / self.temperature)


class Weighted(TaskScheduler):
    def probabilities(self) -> np.ndarray:
        return self.weights / self.weights.sum()


class AnnealedPAL(TaskScheduler):
    def alpha(self) -> float:
        if self.epochs == 1:
            return 0.2  # the reference project's value for E = 1, where the formula divides by 0
        return 1.0 - 0.8 * (self.epoch - 1) / (self.epochs - 1)

    def probabilities(self) -> np.ndarray:
        return _power(self.sizes, self.alpha())


class SingleTask(TaskScheduler):
    """Every batch from one task, `task`."""

    def __init__(self, *args: Any, task: str, **kw: Any):
        super().__init__(*args, **kw)
        self.task = task

    def probabilities(self) -> np.ndarray:
        return np.array([1.0 if t == self.task else 0.0 for t in self.tasks])

    def next_task(self) -> str:
        return self.task


def make_scheduler(
    name: str,
    tasks: list[str],
    sizes: dict[str, int],
    seed: int,
    epochs: int,
    temperature: float = 2.0,
    weights: dict[str, float] | None = None,
) -> TaskScheduler:
    """The registered scheduler `name` (`mtlib.config.methods`) over `tasks` of `sizes` batches."""
    m = methods.method("task_scheduler", name)
    return methods.behaviour(m)(tasks, sizes, seed=seed, epochs=epochs, temperature=temperature, weights=weights, **m.arguments)


def draw_update(scheduler: TaskScheduler, k: int, strategy: str = "none") -> list[str]:
    """The tasks of the `k` batches of one update, as the combine strategy `strategy` picks them
    (`mtlib.train.combine_strategies`)."""
    return methods.behaviour(methods.method("combine_strategy", strategy))(scheduler, k)


def scheduler_for(cfg: Any, tasks: list[str], sizes: dict[str, int]) -> TaskScheduler:
    """The task scheduler a `Config`'s multitask section asks for, over `tasks` of `sizes`."""
    m = methods.method("task_scheduler", cfg.multitask.task_scheduler)
    return methods.behaviour(m)(tasks, sizes, seed=cfg.train.seed, epochs=cfg.train.epochs, **m.options_of(cfg))
