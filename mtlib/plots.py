"""Every figure of the workbook, through one `save_figure` helper.

Figures go to `figures/<run>/<name>.png` and `.svg` under the project root (or $MTLIB_FIGURES),
whether a notebook runs interactively, under papermill, or from the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .tasks import TASKS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SST_LABELS = ["0 very neg.", "1 neg.", "2 neutral", "3 pos.", "4 very pos."]


def figures_dir(run_name: str) -> Path:
    base = Path(os.environ.get("MTLIB_FIGURES", PROJECT_ROOT / "figures"))
    path = base / run_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig: Any, run_name: str, name: str) -> list[Path]:
    """Save `fig` as PNG (150 dpi) and SVG; returns the paths."""
    folder = figures_dir(run_name)
    paths = []
    for ext in ("png", "svg"):
        path = folder / f"{name}.{ext}"
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    return paths


def class_names(task: str) -> list[str]:
    return SST_LABELS if task == "sst" else ["not para.", "paraphrase"]


def confusion_figure(matrix: np.ndarray, task: str, normalize: bool = False, ax: Any = None) -> Any:
    import seaborn as sns

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5) if task == "sst" else (4, 3.4))
    values = matrix.astype(float)
    if normalize:
        values = values / np.maximum(values.sum(1, keepdims=True), 1)
    names = class_names(task)
    sns.heatmap(values, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues", ax=ax,
                xticklabels=names, yticklabels=names, cbar=False, annot_kws={"size": 9})
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{TASKS[task].title}: confusion matrix" + (" (row-normalised)" if normalize else ""))
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    return fig if fig is not None else ax.figure
