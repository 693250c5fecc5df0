"""The equal-minutes front (README, docs/results.md): dev score against CPU minutes, drawn by
`make results` from the records in results/, with the paragraph that reads it.

Two lines, each point a configuration's mean over its seeds at its mean minutes, its band the
seeds' range:
- single-task Trainer runs sized to a budget (`benchmarks/baselines.py trainer --minutes M`,
  records carrying `budget_minutes`; the minutes are the whole process's);
- mtlib's workbook runs (`make workbook`: the notebooks, their figures and the test stage
  included), one point per profile.
The unbounded single-task baselines are a dashed line, the zero-shot encoder a dotted one.
Minutes mean nothing across machines: only runs of one machine (CPU model, capability and
precision; `machine_of`: the one with both lines recorded, so a lone run from another CPU never
replaces the front) are drawn, and only runs that had the cores to themselves (recorded without
`--shared_cores`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...config.tasks import TASKS

BASELINE_GROUP = "single-task Trainer"  # the default; results/tables.json's first `baselines` entry is passed in
ZERO_SHOT_GROUP = "zero-shot encoder"
TRAINER = "single-task Trainer, sized to the minutes"
MTLIB = "mtlib, make workbook"
PANELS = (*TASKS, "mean")


def _is_workbook_run(summary: dict[str, Any]) -> bool:
    return summary.get("device") == "cpu" and any(k.startswith("notebook ") for k in summary.get("stage_seconds", {}))


def _is_budget_run(summary: dict[str, Any]) -> bool:
    return summary.get("device") == "cpu" and bool(summary.get("budget_minutes"))


def _line_of(summary: dict[str, Any]) -> str:
    return TRAINER if _is_budget_run(summary) else MTLIB if _is_workbook_run(summary) else ""


def machine_of(summaries: list[dict[str, Any]]) -> tuple[str, str, str, int]:
    """(CPU model, capability, precision, threads) of the machine whose front is drawn: of those
    with both lines recorded (budgeted Trainer runs and workbook runs that had the cores to
    themselves), the one with the most runs, then the newest; with no such machine, that of the
    newest budgeted Trainer run, else of the newest workbook run; empty when no run names its CPU.
    A run recorded on another machine therefore never replaces a complete front by a partial one."""
    named = [s for s in summaries if _line_of(s) and s.get("cpu") and s.get("precision")]
    if not named:
        return "", "", "", 0
    machines: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for s in named:
        machines.setdefault((s["cpu"], s.get("cpu_capability", ""), s["precision"]), []).append(s)
    complete = [runs for runs in machines.values() if {TRAINER, MTLIB} <= {_line_of(r) for r in runs if not r.get("shared_cores")}]
    if complete:
        runs = max(complete, key=lambda rs: (len(rs), max(r.get("created", "") for r in rs)))
        newest = max(runs, key=lambda r: r.get("created", ""))
    else:
        newest = max([s for s in named if _is_budget_run(s)] or named, key=lambda s: s.get("created", ""))
    return newest["cpu"], newest.get("cpu_capability", ""), newest["precision"], int(newest.get("threads") or 0)


def machine_text(summaries: list[dict[str, Any]]) -> str:
    """`machine_of` as the figure and the table name it: "AMD EPYC, AVX512, bf16, 2 threads"."""
    cpu, capability, precision, threads = machine_of(summaries)
    return ", ".join(x for x in (cpu, capability, precision, f"{threads} threads" if threads else "") if x)


def short_name(runs: list[str]) -> str:
    """A configuration's name from its runs: one run's name, or what its seeds' names share."""
    if len(runs) == 1:
        return runs[0]
    shared = re.sub(r"[-_][a-z]?$", "", os.path.commonprefix(sorted(runs)))  # cpu-450-s0, -s1 -> cpu-450
    return shared or runs[0]


def score(summary: dict[str, Any], panel: str) -> float:
    """A run's dev score on one task, or the mean of the three."""
    return float(np.mean([summary["dev"][t] for t in TASKS])) if panel == "mean" else float(summary["dev"][panel])


def front(summaries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each line's points, by minutes: one per group of runs on the machine of `machine_of` that
    scored every task and had the cores to themselves; a point holds its group, name, runs, mean
    minutes, and per panel the seeds' mean (`score`), lowest (`low`) and highest (`high`)."""
    machine = machine_of(summaries)
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in summaries:
        line = _line_of(s)
        same = (s.get("cpu"), s.get("cpu_capability", ""), s.get("precision")) == machine[:3]
        if line and same and set(TASKS) <= set(s.get("dev", {})) and s.get("wall_seconds") and not s.get("shared_cores"):
            by_group.setdefault((line, s["group"]), []).append(s)
    lines: dict[str, list[dict[str, Any]]] = {TRAINER: [], MTLIB: []}
    for (line, group), runs in by_group.items():
        names = sorted(r["run"] for r in runs)
        scores = {p: [score(r, p) for r in runs] for p in PANELS}
        lines[line].append(
            {
                "group": group,
                "name": short_name(names),
                "runs": names,
                "minutes": float(np.mean([r["wall_seconds"] for r in runs])) / 60,
                "score": {p: float(np.mean(v)) for p, v in scores.items()},
                "low": {p: float(min(v)) for p, v in scores.items()},
                "high": {p: float(max(v)) for p, v in scores.items()},
            }
        )
    return {line: sorted(points, key=lambda p: p["minutes"]) for line, points in lines.items() if points}


def reference_scores(summaries: list[dict[str, Any]], group: str) -> dict[str, float]:
    """The mean dev score per panel of `group`'s runs (panels it did not score are left out)."""
    runs = [s for s in summaries if s.get("group") == group]
    out = {t: float(np.mean([r["dev"][t] for r in runs])) for t in TASKS if runs and all(t in r.get("dev", {}) for r in runs)}
    return out | ({"mean": float(np.mean(list(out.values())))} if len(out) == len(TASKS) else {})


def crossings(a: list[dict[str, Any]], b: list[dict[str, Any]], panel: str) -> tuple[tuple[float, float], list[float]]:
    """Where line `a` minus line `b` changes sign on `panel`, both read as straight between their
    points on a log-minutes axis: the minutes range both lines span, and the crossings in it (in
    minutes). An empty range, (0, 0), when the lines share no minutes; a line of one point
    spans its own minutes, where the other line is read."""
    lo, hi = max(a[0]["minutes"], b[0]["minutes"]), min(a[-1]["minutes"], b[-1]["minutes"])
    if len(a) == 1 or len(b) == 1:  # one point: compare there, if the other line reaches it
        lo = hi = (a if len(a) == 1 else b)[0]["minutes"]
        other = b if len(a) == 1 else a
        inside = other[0]["minutes"] <= lo <= other[-1]["minutes"]
        return ((lo, hi) if inside else (0.0, 0.0)), []
    if lo >= hi:
        return (0.0, 0.0), []
    xs = np.log(sorted({lo, hi, *(p["minutes"] for p in a + b if lo <= p["minutes"] <= hi)}))
    gap = np.array([at(a, panel, x) - at(b, panel, x) for x in np.exp(xs)])
    found = []
    for i in range(len(xs) - 1):
        if gap[i] == 0 or gap[i] * gap[i + 1] < 0:
            t = 0.0 if gap[i] == 0 else gap[i] / (gap[i] - gap[i + 1])
            found.append(float(np.exp(xs[i] + t * (xs[i + 1] - xs[i]))))
    return (lo, hi), found


def at(points: list[dict[str, Any]], panel: str, minutes: float) -> float:
    """A line's score on `panel` at `minutes`, straight between its points on log minutes."""
    return float(np.interp(np.log(minutes), np.log([p["minutes"] for p in points]), [p["score"][panel] for p in points]))


def band_at(points: list[dict[str, Any]], panel: str, minutes: float) -> tuple[float, float]:
    """A line's seed range on `panel` at `minutes`, straight between its points on log minutes."""
    xs = np.log([p["minutes"] for p in points])
    return tuple(float(np.interp(np.log(minutes), xs, [p[k][panel] for p in points])) for k in ("low", "high"))  # type: ignore[return-value]


def within_seeds(lines: dict[str, list[dict[str, Any]]], panel: str, minutes: float) -> bool:
    """Do the two lines' seed ranges overlap at `minutes`? Then which is ahead there is not told apart."""
    (a_low, a_high), (b_low, b_high) = band_at(lines[MTLIB], panel, minutes), band_at(lines[TRAINER], panel, minutes)
    return a_low <= b_high and b_low <= a_high


def leader(lines: dict[str, list[dict[str, Any]]], panel: str, minutes: float) -> str:
    """Which line scores higher on `panel` at `minutes`."""
    return "mtlib" if at(lines[MTLIB], panel, minutes) > at(lines[TRAINER], panel, minutes) else "Trainer"


def _title(panel: str) -> str:
    return "mean of the three" if panel == "mean" else TASKS[panel].title


def verdict(summaries: list[dict[str, Any]]) -> str:
    """The paragraph and table that read the front (`make results` writes it into the README and
    docs/results.md): each point, then per panel which line is ahead and where they cross."""
    lines = front(summaries)
    if TRAINER not in lines or MTLIB not in lines:
        return "(no budgeted Trainer runs and workbook runs recorded on one machine yet: `bash benchmarks/front.sh`, then `make results`)"
    rows = ["| line | configuration | seeds | minutes | SST acc | Para acc | STS Pearson | mean |", "|---|---|---|---|---|---|---|---|"]
    for line, points in lines.items():
        for p in points:
            cells = " | ".join(
                f"{p['score'][k]:.3f}" + (f" ({p['low'][k]:.3f} to {p['high'][k]:.3f})" if len(p["runs"]) > 1 else "") for k in PANELS
            )
            rows.append(f"| {line} | `{p['name']}` | {len(p['runs'])} | {p['minutes']:.1f} | {cells} |")
    said = []
    for panel in PANELS:
        (lo, hi), found = crossings(lines[MTLIB], lines[TRAINER], panel)
        if hi == 0:
            said.append(f"{_title(panel)}: the lines share no minutes.")
            continue
        if lo == hi:
            said.append(f"{_title(panel)}: {leader(lines, panel, lo)} is ahead at {lo:.1f} minutes, the one minutes both lines reach.")
        elif not found:
            said.append(
                f"{_title(panel)}: {leader(lines, panel, np.sqrt(lo * hi))} is ahead over all the minutes both lines span ({lo:.1f} to {hi:.1f})."
            )
        else:
            where = ", ".join(f"{x:.1f}" for x in found)
            tie = " (there within the seed ranges)" if within_seeds(lines, panel, lo) else ""
            said.append(
                f"{_title(panel)}: {leader(lines, panel, lo)} is ahead at {lo:.1f} minutes{tie}, {leader(lines, panel, hi)} at {hi:.1f}; the lines cross at {where} minutes."
            )
    for side, pick in (("below", 0), ("beyond", -1)):  # what only one line reaches
        ends = {line: points[pick]["minutes"] for line, points in lines.items()}
        alone = min(ends, key=ends.get) if pick == 0 else max(ends, key=ends.get)
        if len(set(ends.values())) > 1:
            edge = ends[MTLIB if alone == TRAINER else TRAINER]
            said.append(
                f"{side.capitalize()} {edge:.1f} minutes only {alone} is recorded: read it from the table, not against the other line."
            )
    where = machine_text(summaries)
    head = (
        f"Measured on {where}, each run alone on the machine (`bash benchmarks/front.sh`). Trainer's minutes are its "
        "whole process; mtlib's are a whole `make workbook`, its notebooks, figures and test predictions included. "
        "Between recorded points the lines are read as straight on the log-minutes axis; the ranges are the seeds' lowest and highest."
    )
    return "\n".join([head, "", *rows, "", *(f"- {s}" for s in said)])


def lead(summaries: list[dict[str, Any]]) -> str:
    """The README's one-paragraph answer: which line to use for the minutes both span, task by
    task, and what only one line reaches (docs/results.md has the table, from `verdict`)."""
    lines = front(summaries)
    if TRAINER not in lines or MTLIB not in lines:
        return "(the equal-minutes front is not recorded yet: `bash benchmarks/front.sh`, then `make results`)"
    cpu, capability, precision, threads = machine_of(summaries)
    parts = []
    for panel in PANELS:
        (lo, hi), found = crossings(lines[MTLIB], lines[TRAINER], panel)
        name = "the mean" if panel == "mean" else TASKS[panel].name.upper()
        if hi == 0:
            parts.append(f"{name}: no shared minutes")
        elif found:
            tie = " (within the seed ranges)" if within_seeds(lines, panel, lo) else ""
            parts.append(f"{name}: {leader(lines, panel, lo)} below {found[0]:.1f} min{tie}, {leader(lines, panel, hi)} above")
        else:
            parts.append(f"{name}: {leader(lines, panel, np.sqrt(lo * hi))}")
    spans = {line: (points[0]["minutes"], points[-1]["minutes"]) for line, points in lines.items()}
    lo, hi = max(s[0] for s in spans.values()), min(s[1] for s in spans.values())
    return (
        f"At equal CPU minutes on this project's {cpu} ({capability}, {precision}, {threads} threads), "
        f"from {lo:.1f} to {hi:.1f} minutes, the higher dev score is {'; '.join(parts)}. "
        f"mtlib's points span {spans[MTLIB][0]:.1f} to {spans[MTLIB][1]:.1f} minutes, Trainer's {spans[TRAINER][0]:.1f} to {spans[TRAINER][1]:.1f}."
    )


def draw(summaries: list[dict[str, Any]], folder: Path, name: str = "score_vs_minutes", baseline: str = BASELINE_GROUP) -> list[Path]:
    """Draw the figure into `folder/<name>.png` and `.svg`; nothing (an empty list) when no
    line has a point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import label_points, write_figure

    lines, named = front(summaries), {}
    if not lines:
        return []
    unbounded, zero_shot = reference_scores(summaries, baseline), reference_scores(summaries, ZERO_SHOT_GROUP)
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.4), constrained_layout=True)
    styles = {TRAINER: ("tab:red", "s"), MTLIB: ("tab:blue", "o")}
    everything = [p["minutes"] for points in lines.values() for p in points]
    for ax, panel in zip(axes.flat, PANELS):
        for line, points in lines.items():
            color, marker = styles[line]
            xs = [p["minutes"] for p in points]
            ys = [p["score"][panel] for p in points]
            low, high = [p["low"][panel] for p in points], [p["high"][panel] for p in points]
            seeds = sorted({len(p["runs"]) for p in points})
            ax.plot(xs, ys, color=color, marker=marker, label=f"{line} ({'/'.join(map(str, seeds))} seeds a point)")
            if len(points) > 1:
                ax.fill_between(xs, low, high, color=color, alpha=0.18, linewidth=0)
            ax.errorbar(xs, ys, yerr=[np.subtract(ys, low), np.subtract(high, ys)], fmt="none", ecolor=color, capsize=3)
            if line == MTLIB:  # which profile each point is (Trainer's points are their budgets, on the axis)
                named[ax] = [((p["minutes"], p["score"][panel]), re.sub(r"^mtlib-|-s\d+$", "", p["name"])) for p in points]
        if panel in unbounded:
            ax.axhline(unbounded[panel], color="tab:red", ls="--", lw=1, zorder=1, label=f"{baseline}, no budget (its full epochs)")
        if panel in zero_shot:  # both reference lines under the measured ones, which may lie on them
            ax.axhline(zero_shot[panel], color="gray", linestyle=":", linewidth=1, zorder=1, label=f"{ZERO_SHOT_GROUP}")
        ax.set_xscale("log")
        ticks = [t for t in (1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 60, 80) if min(everything) * 0.7 <= t <= max(everything) * 1.4]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlim(min(everything) * 0.7, max(everything) * 1.4)
        metric = "score" if panel == "mean" else TASKS[panel].metric_name
        ax.set(xlabel="CPU minutes (log)", ylabel=f"dev {metric}", title=_title(panel))
        ax.margins(y=0.12)  # room above and below the lines for the points' names
        ax.grid(alpha=0.3)
    where = machine_text(summaries)
    fig.suptitle(f"Dev score against CPU minutes ({where})", fontsize=11)
    legend = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.canvas.draw()  # the layout placed the axes: keep it, then label the points clear of every line
    fig.set_layout_engine("none")
    for ax, labelled in named.items():
        label_points(ax, [xy for xy, _ in labelled], [text for _, text in labelled], color=styles[MTLIB][0], fontsize=7)
    out = write_figure(fig, folder, name)
    plt.close(fig)
    return out
