"""Which tasks the batches of one update come from (`--combine_strategy`), given the task
scheduler and the `k` batches an update gathers (`mtlib.config.methods.batches_per_update`).
Declared, with their checks, in `mtlib.config.method_table`; `draw_update` runs the one chosen.

- `none` (`drawn`): k draws from the scheduler.
- `force`: one batch of every task, then k − T draws from the scheduler.
- `encourage`: k draws from the scheduler; then each task that did not appear replaces one
  draw of the task drawn most often (ties: the later-listed task), so every task appears
  while the counts stay as close to the scheduler's draw as they can.
"""

from __future__ import annotations

from typing import Any


def drawn(scheduler: Any, k: int) -> list[str]:
    return [scheduler.next_task() for _ in range(k)]


def force(scheduler: Any, k: int) -> list[str]:
    tasks = scheduler.tasks
    return list(tasks) + [scheduler.next_task() for _ in range(k - len(tasks))]


def encourage(scheduler: Any, k: int) -> list[str]:
    tasks = scheduler.tasks
    draws = drawn(scheduler, k)
    for missing in [t for t in tasks if t not in draws]:
        counts = {t: draws.count(t) for t in tasks}
        most = max(reversed(tasks), key=lambda t: counts[t])
        draws[len(draws) - 1 - draws[::-1].index(most)] = missing
    return draws
