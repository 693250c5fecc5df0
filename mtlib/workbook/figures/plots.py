"""Every figure of the workbook, through one `save_figure` helper.

A run's figures live in its own folder, `runs/<run>/figures/<name>.png` and `.svg`, so a copied
run keeps its pictures; a copy goes to `figures/<run>/` (or $MTLIB_FIGURES/<run>/) for papers.
Both resolve against the project root (`mtlib.util.paths`), whether a notebook runs in JupyterLab,
under papermill, or from the CLI.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from ...config.tasks import TASKS
from ..sections.narrative import percent
from .common import (  # noqa: F401 (the helpers every figure module uses, named here too)
    BOTTOM_LEGEND_INCHES,
    SPLIT_COLORS,
    STAGE_COLORS,
    TASK_COLORS,
    _figure_legend,
    _metric_label,
    _shade_stages,
    _stage_colors,
    _stage_legend,
    class_names,
    figures_dir,
    finish,
    label_points,
    save_figure,
    wrap,
    write_figure,
)


# ---- 01: data ----------------------------------------------------------------------------------
def split_sizes_figure(sizes: Any) -> Any:
    """Grouped bars: examples per task and split (`mtlib.workbook.sections.explore.split_sizes`)."""
    splits = [s for s in ("train", "dev", "test") if s in sizes.columns]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    y = np.arange(len(sizes))
    height = 0.8 / len(splits)
    for i, split in enumerate(splits):
        bars = ax.barh(y + (i - (len(splits) - 1) / 2) * height, sizes[split], height, label=split, color=SPLIT_COLORS[split])
        ax.bar_label(bars, labels=[f"{v:,}" for v in sizes[split]], padding=3, fontsize=8)
    ax.set_yticks(y, [TASKS[t].title for t in sizes.index])
    ax.invert_yaxis()
    ax.set_xlabel("examples (after validation)")
    ax.set_xlim(0, sizes[splits].to_numpy().max() * 1.18)
    ax.legend(title="split", loc="lower right")
    return finish(fig, "Examples per task and split")


def label_distribution_figure(labels: Any) -> Any:
    """SST class shares, paraphrase balance and STS score bins per split
    (`mtlib.workbook.sections.explore.label_distribution`)."""
    import seaborn as sns

    tasks = [t for t in TASKS if t in set(labels["task"])]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = labels[labels["task"] == task].copy()
        if TASKS[task].is_classification:
            names = class_names(task)
            part["label"] = [names[int(v)] for v in part["label"]]
        sns.barplot(part, x="label", y="share", hue="split", palette=SPLIT_COLORS, ax=ax, legend=ax is axes[0][0])
        ax.set_title(TASKS[task].title)
        ax.set_xlabel("gold class" if TASKS[task].is_classification else "gold score bin")
        ax.set_ylabel("share of the split")
        ax.tick_params(axis="x", rotation=30 if len(TASKS[task].class_names) > 2 else 0)
    legend = axes[0][0].get_legend()
    handles = legend.legend_handles
    for handle, text in zip(handles, legend.get_texts()):
        handle.set_label(text.get_text())
    legend.remove()
    _figure_legend(fig, handles, title=None)  # one legend under the panels: none covers a bar
    return finish(fig, "Label distributions")


def token_length_figure(lengths: Any, max_length: int) -> Any:
    """Token-length histograms per task and split, with the truncation limit marked
    (`mtlib.workbook.sections.explore.token_lengths`)."""
    tasks = [t for t in TASKS if t in set(lengths["task"])]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.6), squeeze=False)
    top = int(max(lengths["length"].quantile(0.995), max_length) * 1.1)
    bins = np.linspace(0, top, 40)
    for ax, task in zip(axes[0], tasks):
        part = lengths[lengths["task"] == task]
        peak = 0.0
        for split, group in part.groupby("split", sort=False):
            heights, _, _ = ax.hist(
                group["length"].clip(upper=top), bins=bins, histtype="step", density=True, lw=1.6, label=split, color=SPLIT_COLORS[split]
            )
            peak = max(peak, float(np.max(heights)))
        cut = int((part["length"] > max_length).sum())
        ax.axvline(max_length, color="crimson", ls="--", lw=1.2)
        ax.set_ylim(0, peak * 1.4)  # the top 2/7 of the axes stay free of the histogram: the note's row
        ax.text(
            max_length,
            0.97,
            f" max_length {max_length} \n {cut:,} truncated ({percent(cut / len(part))}) ",
            color="crimson",
            transform=ax.get_xaxis_transform(),
            ha="right" if max_length > 0.6 * top else "left",
            va="top",
            fontsize=8,
        )
        ax.set_title(TASKS[task].title + (" (pair)" if TASKS[task].is_pair else ""))
        ax.set_xlabel("tokens per example")
        ax.set_ylabel("density")
    handles = [Line2D([], [], color=SPLIT_COLORS[s], lw=1.6, label=s) for s in dict.fromkeys(lengths["split"])]
    _figure_legend(fig, handles, title=None)  # under the panels: never over a histogram or the note
    return finish(fig, "Token lengths under the encoder's tokenizer")


# ---- 02 / 03: training -------------------------------------------------------------------------
def learning_curves_figure(losses: Any, dev: Any, spans: Any = None) -> Any:
    """Per task: training loss per update (raw and smoothed) above the dev score per epoch. One
    stage: over its update steps. Several (`spans`): each stage gets the same width of the x axis,
    its updates of the task in order inside it (`mtlib.workbook.sections.history.stage_progress`), so a
    stage of 10 updates reads as well as one of 450; no line joins two stages (`train_losses` /
    `dev_scores` / `stage_spans`)."""
    from ..sections.history import stage_progress

    staged = spans is not None and len(spans) > 1
    if staged:
        losses = losses.assign(x=stage_progress(losses, losses, spans))
        dev = dev.assign(x=stage_progress(dev, losses, spans, at_end=True))
    else:
        losses, dev = losses.assign(x=losses["global_step"]), dev.assign(x=dev["global_step"])
    tasks = [t for t in TASKS if t in set(losses["task"]) | set(dev["task"])]
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.6 * len(tasks), 6.2), squeeze=False, sharex="col")
    smoothed = False
    for col, task in enumerate(tasks):
        color = TASK_COLORS[task]
        top, bottom = axes[0, col], axes[1, col]
        part = losses[losses["task"] == task].sort_values("global_step")
        window = max(1, len(part) // 15)
        for _, stage in part.groupby("stage", sort=False):  # a line per stage: none across a gap
            if window > 1:
                mean = stage["loss"].rolling(min(window, max(1, len(stage) // 3)), min_periods=1).mean()
                top.plot(stage["x"], stage["loss"], ".", ms=3, alpha=0.35, color=color)
                top.plot(stage["x"], mean, color=color, lw=2)
            else:
                top.plot(stage["x"], stage["loss"], ".-", ms=5, lw=1.5, color=color)
        smoothed = smoothed or window > 1
        top.set_title(TASKS[task].title)
        top.set_ylabel("training loss")
        scores = dev[dev["task"] == task].sort_values("global_step")
        if len(scores) == 1:  # one dev pass: a marker, labelled below
            bottom.plot(scores["x"], scores["score"], "D", ms=9, color=color, label="dev")
        for _, stage in scores.groupby("stage", sort=False) if len(scores) > 1 else ():
            bottom.plot(stage["x"], stage["score"], "o-", color=color)
        bottom.margins(y=0.3)
        bottom.set_ylabel(f"dev {_metric_label(task)}")
        for ax in (top, bottom):
            if staged:
                colors = _stage_colors(spans)
                for i, stage in enumerate(spans["stage"]):
                    ax.axvspan(i, i + 1, color=colors[stage], zorder=0, lw=0)
                ax.set_xlim(-0.07, len(spans) + 0.07)  # a marker at a stage end stays whole
            else:
                ax.margins(x=0.06)  # a marker at the last step stays whole
        if staged:
            bottom.set_xticks(range(len(spans) + 1), [""] * (len(spans) + 1))
            bottom.set_xticks([i + 0.5 for i in range(len(spans))], [s.replace("_", "\n") for s in spans["stage"]], minor=True)
            bottom.tick_params(axis="x", which="minor", length=0, labelsize=8)
            bottom.set_xlabel("stage (each its updates of the task, in order)")
        else:
            bottom.set_xlabel("update step")
    if smoothed:  # one legend under the panels: a cloud of points leaves no room inside
        marks = [
            ("per update", dict(ls="", marker=".", alpha=0.5)),
            ("running mean within a stage (1/15 of the task's updates)", dict(lw=2)),
        ]
        _figure_legend(fig, [Line2D([], [], color="#555555", label=label, **style) for label, style in marks])
    finish(fig, "Learning curves")
    for col, task in enumerate(tasks):
        scores = dev[dev["task"] == task].sort_values("global_step").reset_index(drop=True)
        if scores.empty:
            continue
        # the last score first, then the best, then the others from the end back
        order = list(dict.fromkeys([len(scores) - 1, int(scores["score"].idxmax()), *range(len(scores) - 1, -1, -1)]))
        points = [(scores["x"][i], scores["score"][i]) for i in order]
        texts = [f"{scores['score'][i]:.3f}" + (f" (epoch {scores['epoch'][i]})" if len(scores) == 1 else "") for i in order]
        label_points(axes[1, col], points, texts)
    return fig


def baseline_figure(table: Any) -> Any:
    """Dev score of the model beside the constant baseline's, per task (`mtlib.workbook.sections.trivial_baselines`)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(len(table))
    model = ax.bar(x - 0.2, table["model"], 0.4, label="model", color=[TASK_COLORS[t] for t in table.index])
    base = ax.bar(x + 0.2, table["baseline"], 0.4, label="constant baseline", color="#BBBBBB")
    ax.bar_label(model, fmt="%.3f", fontsize=8)
    ax.bar_label(base, fmt="%.3f", fontsize=8)
    ax.set_xticks(x, [f"{TASKS[t].title}\n({m})" for t, m in zip(table.index, table["metric"])])
    ax.set_ylabel("dev score")
    ax.axhline(0, color="black", lw=0.8)
    ax.margins(y=0.15)  # room for the value labels
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside the axes: never over a bar or its label
    return finish(fig, "Dev score vs. majority-class / mean baseline")


def task_sampling_figure(sampling: Any, summary: Any, spans: Any = None) -> Any:
    """Left: running share of batches drawn from each task over updates. Right: each stage's
    share drawn (bars) against the share proportional to training-set size (black ticks)
    (`mtlib.workbook.sections.history.task_sampling` / `sampling_summary`)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.9), gridspec_kw={"width_ratios": [3, 2]})
    wide = sampling.pivot_table(index="global_step", columns="task", values="batches", aggfunc="sum", fill_value=0).sort_index()
    running = wide.cumsum().div(wide.cumsum().sum(axis=1), axis=0)
    for task in [t for t in TASKS if t in running.columns]:
        left.plot(running.index, running[task], lw=2, color=TASK_COLORS[task], label=task)
    _shade_stages(left, spans)
    _stage_legend(fig, spans)
    left.set_xlabel("update step (across stages)")
    left.set_ylabel("share of batches so far")
    left.set_ylim(0, 1)
    left.legend(title="task", fontsize=8)
    stages = list(dict.fromkeys(summary["stage"]))
    tasks = [t for t in TASKS if t in set(summary["task"])]
    width = 0.8 / len(tasks)
    for i, task in enumerate(tasks):
        part = summary[summary["task"] == task].set_index("stage").reindex(stages)
        x = np.arange(len(stages)) + (i - (len(tasks) - 1) / 2) * width
        right.bar(x, part["share"], width, color=TASK_COLORS[task], label=task)
        right.scatter(x, part["size share"], marker="_", s=250, color="black", zorder=3, label="by size" if i == 0 else None)
    right.set_xticks(np.arange(len(stages)), stages, rotation=15)
    right.set_ylabel("share of the stage's batches")
    right.legend(fontsize=8)
    return finish(fig, "Task sampling actually used")


def conflict_figure(cosines: Any, summary: Any, spans: Any = None) -> Any:
    """Left: cosine between task gradients on the shared encoder over the updates of the stages
    that logged them (the x axis spans those stages). Right: share of monitored updates where a
    pair conflicts (cosine < 0), per such stage (`mtlib.workbook.sections.history.conflicts`). The stages
    that logged none are named in the left panel's title."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.9), gridspec_kw={"width_ratios": [3, 2]})
    pairs = list(dict.fromkeys(cosines["pair"]))
    colors = dict(zip(pairs, ["#8172B3", "#C44E52", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974"]))
    run_stages = list(spans["stage"]) if spans is not None and len(spans) else list(dict.fromkeys(summary["stage"]))
    logged = [s for s in run_stages if s in set(summary["stage"])]
    silent = [s for s in run_stages if s not in logged]
    for pair in pairs:
        part = cosines[cosines["pair"] == pair].sort_values("global_step")
        left.plot(part["global_step"], part["cosine"], "o-", ms=3, lw=1.4, color=colors[pair], label=pair)
    left.axhline(0, color="black", lw=0.8)
    _shade_stages(left, spans, shown=logged)
    _stage_legend(fig, spans, shown=logged)
    if spans is not None and logged:
        chosen = spans[spans["stage"].isin(logged)]
        left.set_xlim(chosen["start"].min() - 0.5, chosen["end"].max() + 0.5)
    left.set_xlabel("update step (across stages)")
    left.set_ylabel("cosine of task gradients")
    if silent and logged:
        left.set_title(f"no cosines logged in {', '.join(silent)}", fontsize=9, color="#555555")
    if pairs:
        left.legend(title="task pair", fontsize=8)
    else:
        left.text(
            0.5, 0.5, "no cosines logged\n(conflict_every 0, or one task per update)", ha="center", va="center", transform=left.transAxes
        )
    width = 0.8 / max(len(pairs), 1)
    for i, pair in enumerate(pairs):
        part = summary[summary["pair"] == pair].set_index("stage").reindex(logged)
        bars = right.bar(
            np.arange(len(logged)) + (i - (len(pairs) - 1) / 2) * width,
            part["conflicting"].fillna(0),
            width,
            color=colors[pair],
            label=pair,
        )
        right.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.2f}" for v in part["conflicting"]], fontsize=8)
    right.set_xticks(np.arange(len(logged)), logged)
    right.set_ylim(0, 1.12)
    right.set_ylabel("share of updates with cosine < 0")
    if pairs:
        right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over one
    return finish(fig, "Gradient conflict between tasks")
