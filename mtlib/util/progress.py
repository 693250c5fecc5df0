"""Progress that reads well wherever a run is watched.

Three renderings of the same progress, chosen once per process (`mode`):

- `widget`: tqdm's ipywidgets bar, in a live Jupyter kernel;
- `bar`: tqdm's terminal bar, on an interactive terminal;
- `text`: plain lines (at most one every `TEXT_EVERY` seconds within an epoch), for papermill,
  `make workbook`, logs and CI: a saved notebook shows them as they were, where a widget bar's
  state is lost and shows 0%.

$MTLIB_PROGRESS (widget, bar, text or off) overrides the choice; `mtlib.workbook` sets `text`
for the kernels papermill starts. What is shown: each epoch's updates (`EpochProgress`, its bar left
on screen when the epoch ends), then the rows of each dev set scored (`Progress`, named by the stage,
split and task), and the end of every epoch prints its dev line (scores, time left) in every mode,
a line that stays in the cell or log. The test stage's and `python -m mtlib predict`'s rows show too.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

MODES = ("widget", "bar", "text", "off")
TEXT_EVERY = 30.0  # seconds between two text lines within an epoch


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, or papermill's)."""
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def mode() -> str:
    chosen = os.environ.get("MTLIB_PROGRESS", "").strip().lower()
    if chosen in MODES:
        return chosen
    if in_notebook():
        return "widget"
    return "bar" if sys.stderr.isatty() else "text"


def duration(seconds: float) -> str:
    """4 s, 2m05s, 1h02m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def say(text: str) -> None:
    """One line of progress, printed so that it lands between bars in every mode."""
    if mode() in ("bar", "widget"):
        from tqdm.auto import tqdm

        tqdm.write(text)
    else:
        print(text, flush=True)


_SAID: set[str] = set()


def say_once(text: str) -> None:
    """`say`, once per process for the same text (a notebook running two stages says a note once)."""
    if text not in _SAID:
        _SAID.add(text)
        say(text)


class Progress:
    """The steps of one wait (a split's rows, an epoch's updates): a bar, or a text line now and then
    (see the module docstring). `leave`: the finished bar stays on screen; `file`: where the bar
    and the text lines go (default: the bar on stderr, the lines on stdout beside the epoch lines)."""

    def __init__(
        self, desc: str, total: int, unit: str = "row", initial: int = 0, enabled: bool = True,
        every: float | None = None, leave: bool = True, file: TextIO | None = None,
    ):  # fmt: skip
        self.desc, self.total, self.done, self.unit, self.file = desc, total, initial, unit, file
        self.every = TEXT_EVERY if every is None else every
        self.mode = mode() if enabled else "off"
        self.start = self.last = time.perf_counter()
        self.first = initial
        self.bar: Any = None
        if self.mode in ("bar", "widget"):
            from tqdm import tqdm as terminal_tqdm
            from tqdm.auto import tqdm as auto_tqdm

            kind = auto_tqdm if self.mode == "widget" else terminal_tqdm
            self.bar = kind(total=total, initial=initial, desc=desc, unit=unit, leave=leave, dynamic_ncols=True, file=file)

    def update(self, n: int = 1, postfix: dict[str, float] | None = None) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix({k: f"{v:.3f}" for k, v in postfix.items()}, refresh=False)
            return
        now = time.perf_counter()
        if self.mode == "text" and now - self.last >= self.every and self.done < self.total:
            self.last = now
            elapsed = now - self.start
            rate = (self.done - self.first) / max(elapsed, 1e-9)
            left = (self.total - self.done) / rate if rate > 0 else 0.0
            print(
                f"{self.desc}: {self._count()}, {duration(elapsed)} in, ~{duration(left)} left{self._tail(postfix)}",
                flush=True,
                file=self.file,
            )

    def _count(self) -> str:
        return f"{self.done:,}/{self.total:,} {self.unit}s ({self.done / self.total:.0%})"

    def _tail(self, postfix: dict[str, float] | None) -> str:
        return ""

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EpochProgress(Progress):
    """The updates of one epoch; the bar stays when the epoch ends, above its dev line."""

    def __init__(self, desc: str, total: int, initial: int = 0, enabled: bool = True, every: float | None = None):
        super().__init__(desc, total, "update", initial, enabled, every, leave=True)

    def update(self, losses: dict[str, float]) -> None:  # type: ignore[override]
        super().update(1, losses)

    def _count(self) -> str:
        return f"update {self.done}/{self.total} ({self.done / self.total:.0%})"

    def _tail(self, postfix: dict[str, float] | None) -> str:
        return " in the epoch; loss " + " ".join(f"{t} {v:.3f}" for t, v in (postfix or {}).items())
