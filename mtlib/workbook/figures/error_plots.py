"""Notebook 04's figures (and the playground's): confusion matrices, STS predictions against
gold, per-class scores, dev scores with their intervals, one sentence's class probabilities.
Saved through `mtlib.workbook.figures.common.save_figure`, as every figure."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ...config.tasks import TASKS
from ...train.evaluate import confusion
from ...train.events import DevScored
from ..sections.analysis import bin_edges, gold_bins
from .plots import TASK_COLORS, class_names, finish, wrap


def confusion_figure(matrix: np.ndarray, task: str, normalize: bool = False, ax: Any = None) -> Any:
    import seaborn as sns

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5) if len(TASKS[task].class_names) > 2 else (4, 3.4))
    values = matrix.astype(float)
    if normalize:
        values = values / np.maximum(values.sum(1, keepdims=True), 1)
    names = class_names(task)
    sns.heatmap(
        values,
        annot=True,
        fmt=".2f" if normalize else ".0f",
        cmap="Blues",
        ax=ax,
        xticklabels=names,
        yticklabels=names,
        cbar=False,
        annot_kws={"size": 9},
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{TASKS[task].title}: confusion matrix" + (" (row-normalised)" if normalize else ""))
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    return fig if fig is not None else ax.figure


# ---- shared look -------------------------------------------------------------------------------
def confusion_pair_figure(matrix: np.ndarray, task: str) -> Any:
    """Raw counts beside the row-normalised matrix (each row: where that gold class went)."""
    wide = len(TASKS[task].class_names) > 2
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6) if wide else (8.5, 3.6))
    confusion_figure(matrix, task, ax=axes[0])
    confusion_figure(matrix, task, normalize=True, ax=axes[1])
    axes[0].set_title("counts")
    axes[1].set_title("row-normalised (recall on the diagonal)" if wide else "row-normalised\n(recall on the diagonal)")
    return finish(fig, f"{TASKS[task].title}: dev confusion matrix")


def regression_figure(frame: Any, residuals: Any, task: str) -> Any:
    """Left: predicted vs gold similarity. Right: residual (predicted - gold) per gold bin
    (`residuals` is `mtlib.workbook.sections.analysis.residuals_by_bin` of the same frame, `bin_edges(task)`)."""
    import seaborn as sns

    gold, pred = frame["label"].astype(float), frame["prediction"].astype(float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    left.scatter(gold, pred, s=12, alpha=0.5, color=TASKS[task].color)
    left.plot([0, 5], [0, 5], color="black", lw=1, ls="--", label="perfect")
    left.set_xlim(-0.1, 5.1)
    left.set_ylim(-0.1, 5.1)
    left.set_xlabel("gold similarity (0-5)")
    left.set_ylabel("predicted similarity")
    r = np.corrcoef(gold, pred)[0, 1] if gold.std() > 0 and pred.std() > 0 else 0.0
    left.set_title(f"predicted vs gold (Pearson r = {r:.3f})")
    left.legend(loc="upper left", fontsize=8)
    bins = gold_bins(gold, bin_edges(task))
    sns.boxplot(x=bins.astype(str), y=pred - gold, order=list(residuals.index), ax=right, color="#CFE3D3", fliersize=2)
    right.axhline(0, color="black", lw=0.8)
    right.set_xlabel("gold similarity bin")
    right.set_ylabel("residual (predicted - gold)")
    right.set_title("residuals by gold bin (n per bin below)")
    right.set_xticks(range(len(residuals)), [f"{b}\nn={n}" for b, n in zip(residuals.index, residuals["examples"])], fontsize=8)
    return finish(fig, f"{TASKS[task].title}: dev predictions")


def per_class_figure(report: Any) -> Any:
    """Precision, recall and F1 per class of each classification task (`analysis.per_class_report`)."""
    tasks = list(dict.fromkeys(report["task"]))
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(5.5 * len(tasks), 3.8), squeeze=False, gridspec_kw={"width_ratios": [len(class_names(t)) for t in tasks]}
    )
    for ax, task in zip(axes[0], tasks):
        part = report[report["task"] == task]
        x = np.arange(len(part))
        for i, (metric, color) in enumerate(zip(("precision", "recall", "f1"), ("#8DA0CB", "#FC8D62", "#66C2A5"))):
            ax.bar(x + (i - 1) * 0.27, part[metric], 0.27, label=metric, color=color)
        ax.set_xticks(x, [f"{c}\nn={n}" for c, n in zip(part["class"], part["support"])], fontsize=8)
        ax.set_ylim(0, 1.2)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_ylabel("score")
        ax.set_title(TASKS[task].title)
        ax.legend(fontsize=8, ncol=3, loc="upper center")
    return finish(fig, "Per-class precision, recall and F1 (dev)")


def scores_ci_figure(scores: Any) -> Any:
    """Each task's dev score with its bootstrap 95% interval (`analysis.scores_with_ci`)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    x = np.arange(len(scores))
    for i, (task, row) in enumerate(scores.iterrows()):
        ax.errorbar(
            i,
            row["score"],
            yerr=[[row["score"] - row["ci low"]], [row["ci high"] - row["score"]]],
            fmt="o",
            ms=8,
            capsize=6,
            lw=2,
            color=TASK_COLORS[task],
        )
        ax.annotate(
            f"{row['score']:.3f}\n[{row['ci low']:.3f}, {row['ci high']:.3f}]",
            (i, row["ci high"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    ax.set_xticks(x, [f"{TASKS[t].title}\n({m}, n={n})" for t, m, n in zip(scores.index, scores["metric"], scores["examples"])])
    ax.set_xlim(-0.6, len(scores) - 0.4)
    low, high = float(scores["ci low"].min()), float(scores["ci high"].max())
    ax.set_ylim(min(0, low) - 0.05, max(1, high) + 0.15)
    ax.set_ylabel("dev score")
    return finish(fig, "Dev scores with bootstrap 95% intervals")


def playground_figure(distributions: dict[str, list[float]], sentence: str) -> Any:
    """The class distribution each single-sentence task gives `sentence` (the playground)."""
    tasks = list(distributions)
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(7 * max(len(tasks), 1), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        probs = distributions[task]
        bars = ax.bar(range(len(probs)), probs, color=plt.cm.RdYlGn(np.linspace(0.1, 0.9, len(probs))))
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.set_xticks(range(len(probs)), class_names(task), rotation=20, fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("probability")
        ax.set_title(wrap(f"{TASKS[task].title} of: {sentence}"), fontsize=9)
    return finish(fig, "Playground: the trained model on an example sentence")


def record_confusion_figures(trainer: Any) -> None:
    """A recorder for `run(cfg, recorders=...)`: each epoch's confusion figures into the run's
    TensorBoard, beside the dev scores (matplotlib is the workbook's, so the core draws none)."""

    def on_dev(e: DevScored) -> None:
        writer = trainer.run.writer()
        for t in e.record.dev:
            matrix = confusion(e.predictions[t])
            if matrix is not None:
                writer.add_figure(f"Confusion Matrix [{TASKS[t].label}]", confusion_pair_figure(matrix, t), e.record.step)
        writer.flush()

    trainer.register_callback(DevScored, on_dev)


RECORDERS = (record_confusion_figures,)  # what the workbook hangs off every run it trains
