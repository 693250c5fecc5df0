"""The figure of dev score against CPU minutes (docs/results.md), drawn by `make results`.

One point per configuration run as a workbook on the CPU (the mean over its seeds), for each
task, beside the single-task baselines and the zero-shot encoder: how much each minute of the
CPU buys, and where the default's 15-minute budget sits. Only workbook runs of one machine and
precision are drawn (the CPU model of the newest run; runs recorded before the CPU model was,
on this project's machine, count as it), since minutes mean nothing across machines.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..data.tasks import TASKS
from .score_tables import timed_runs

BUDGET_MINUTES = 15.0  # the default profile's budget (issue 15)
BASELINE_GROUP = "single-task Trainer"  # the default; results/tables.json's first `baselines` entry is passed in
ZERO_SHOT_GROUP = "zero-shot encoder"


def _is_workbook_run(summary: dict[str, Any]) -> bool:
    return summary.get("device") == "cpu" and any(k.startswith("notebook ") for k in summary.get("stage_seconds", {}))


def machine_of(summaries: list[dict[str, Any]]) -> tuple[str, str, str, int]:
    """(CPU model, capability, precision, threads) of the newest CPU workbook run that names its CPU."""
    named = [s for s in summaries if _is_workbook_run(s) and s.get("cpu")]
    if not named:
        return "", "", "", 0
    newest = max(named, key=lambda s: s.get("created", ""))
    return newest["cpu"], newest.get("cpu_capability", ""), newest.get("precision", ""), int(newest.get("threads") or 0)


def short_name(runs: list[str]) -> str:
    """A configuration's name from its runs: one run's name, or what its seeds' names share."""
    if len(runs) == 1:
        return runs[0]
    shared = re.sub(r"[-_][a-z]?$", "", os.path.commonprefix(sorted(runs)))  # cpu-450-s0, -s1 -> cpu-450
    return shared or runs[0]


def budget_points(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per group of CPU workbook runs on the machine of `machine_of`, with every task
    scored: its short name, runs, mean minutes and mean dev score per task; by minutes."""
    cpu, _, precision, _ = machine_of(summaries)
    by_group: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        if not _is_workbook_run(s) or s.get("cpu", "") not in ("", cpu) or s.get("precision", "") not in ("", precision):
            continue
        if set(TASKS) <= set(s.get("dev", {})) and s.get("wall_seconds"):
            by_group.setdefault(s["group"], []).append(s)
    points = []
    for group, runs in by_group.items():
        names = sorted(r["run"] for r in runs)
        points.append(
            {
                "group": group,
                "name": short_name(names),
                "runs": names,
                "minutes": float(np.mean([r["wall_seconds"] for r in timed_runs(runs)])) / 60,
                "dev": {t: float(np.mean([r["dev"][t] for r in runs])) for t in TASKS},
            }
        )
    return sorted(points, key=lambda p: p["minutes"])


def reference_scores(summaries: list[dict[str, Any]], group: str) -> dict[str, float]:
    """The mean dev score per task of `group`'s runs (tasks it did not score are left out)."""
    runs = [s for s in summaries if s.get("group") == group]
    return {t: float(np.mean([r["dev"][t] for r in runs])) for t in TASKS if runs and all(t in r.get("dev", {}) for r in runs)}


def draw(summaries: list[dict[str, Any]], folder: Path, name: str = "score_vs_minutes", baseline: str = BASELINE_GROUP) -> list[Path]:
    """Draw the figure into `folder/<name>.png` and `.svg`; nothing (an empty list) when no CPU
    workbook run is recorded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import write_figure

    points = budget_points(summaries)
    if not points:
        return []
    cpu, capability, precision, threads = machine_of(summaries)
    baselines = reference_scores(summaries, baseline)
    zero_shot = reference_scores(summaries, ZERO_SHOT_GROUP)
    fig, axes = plt.subplots(1, len(TASKS), figsize=(4.6 * len(TASKS), 4.6), constrained_layout=True)
    markers = "o s D ^ v P X < > h".split()
    colors = plt.get_cmap("tab10").colors
    handles = []
    for ax, (task, spec) in zip(axes, TASKS.items()):
        xs = [p["minutes"] for p in points]
        for i, p in enumerate(points):
            seeds = f", mean of {len(p['runs'])} seeds" if len(p["runs"]) > 1 else ""
            label = f"{p['name']}: {p['group']} ({p['minutes']:.1f} min{seeds})"
            dot = ax.scatter(
                [p["minutes"]],
                [p["dev"][task]],
                marker=markers[i % len(markers)],
                color=colors[i % len(colors)],
                s=46,
                zorder=3,
                label=label,
            )
            if ax is axes[0]:
                handles.append(dot)
        if task in baselines:
            ax.axhline(baselines[task], color="tab:red", linestyle="--", label=f"{baseline} {baselines[task]:.3f}")
        if task in zero_shot:
            ax.axhline(zero_shot[task], color="gray", linestyle=":", label=f"zero-shot encoder {zero_shot[task]:.3f}")
        ax.axvline(BUDGET_MINUTES, color="tab:green", alpha=0.6, label=f"{BUDGET_MINUTES:.0f}-minute budget")
        ax.set_xscale("log")
        ax.set_xticks([5, 10, 15, 20, 40, 80])
        ax.set_xticklabels(["5", "10", "15", "20", "40", "80"])
        ax.set_xlim(min(8.0, min(xs) * 0.8), max(100.0, max(xs) * 1.25))
        ax.set_ylabel(f"dev {spec.metric_name}")
        ax.set_xlabel("minutes: notebooks + test stage (log)")  # fits the panel's width
        ax.set_title(spec.title)
        ax.legend(handles=[h for h in ax.get_legend_handles_labels()[0] if h not in ax.collections], fontsize=7, loc="lower right")
    where = ", ".join(x for x in (cpu, capability, precision, f"{threads} threads" if threads else "") if x)
    fig.suptitle(f"Dev score against CPU minutes, make workbook runs ({where})", fontsize=11)
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=7, frameon=False)
    out = write_figure(fig, folder, name)
    plt.close(fig)
    return out
