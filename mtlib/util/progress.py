"""Progress that reads well wherever a run is watched.

Three renderings of the same progress, chosen once per process (`mode`):

- `widget`: tqdm's ipywidgets bar, in a live Jupyter kernel;
- `bar`: tqdm's terminal bar, on an interactive terminal;
- `text`: plain lines (at most one every `TEXT_EVERY` seconds within an epoch), for papermill,
  `make workbook`, logs and CI: a saved notebook shows them as they were, where a widget bar's
  state is lost and shows 0%.

$MTLIB_PROGRESS (widget, bar, text or off) overrides the choice; `mtlib.workbook` sets `text`
for the kernels papermill starts. The end of every epoch prints its dev line in every mode.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

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


class EpochProgress:
    """The updates of one epoch: a bar, or a text line now and then (see the module docstring)."""

    def __init__(self, desc: str, total: int, initial: int = 0, enabled: bool = True, every: float = TEXT_EVERY):
        self.desc, self.total, self.done, self.every = desc, total, initial, every
        self.mode = mode() if enabled else "off"
        self.start = self.last = time.perf_counter()
        self.first = initial
        self.bar: Any = None
        if self.mode in ("bar", "widget"):
            from tqdm import tqdm as terminal_tqdm
            from tqdm.auto import tqdm as auto_tqdm

            kind = auto_tqdm if self.mode == "widget" else terminal_tqdm
            self.bar = kind(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True)

    def update(self, losses: dict[str, float]) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({t: f"{v:.3f}" for t, v in losses.items()}, refresh=False)
            return
        now = time.perf_counter()
        if self.mode == "text" and now - self.last >= self.every and self.done < self.total:
            self.last = now
            elapsed = now - self.start
            rate = (self.done - self.first) / max(elapsed, 1e-9)
            left = (self.total - self.done) / rate if rate > 0 else 0.0
            shown = " ".join(f"{t} {v:.3f}" for t, v in losses.items())
            print(
                f"{self.desc}: update {self.done}/{self.total} ({self.done / self.total:.0%}), "
                f"{duration(elapsed)} in, ~{duration(left)} left in the epoch; loss {shown}",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
