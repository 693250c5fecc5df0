"""Every figure of the workbook, saved through one helper (`common.save_figure`: PNG + SVG under
the run's figures/, a copy under figures/<run>/): plots.py (data, learning curves, sampling,
conflicts, baselines), error_plots.py (confusion matrices, STS residuals, per-class scores, the
confusion recorder on the loop), budget.py (the equal-minutes front), forest.py (the study's)."""

from __future__ import annotations

import importlib
from typing import Any

SUBMODULES = ("common", "plots", "error_plots", "budget", "forest")


def __getattr__(name: str) -> Any:  # `mtlib.workbook.figures` was a module (now common.py): its names, as before
    if name.startswith("__") or name in SUBMODULES:  # a room's module not loaded yet: the import system loads it
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.common"), name)
