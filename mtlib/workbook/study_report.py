"""The study's report: each Table 2 row's mean and spread over seeds, its difference from the row
the report compares it with, a verdict per finding of the report, and the figure of those
differences (`mtlib.workbook.study` runs the rows and records them)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from ..data.tasks import TASK_NAMES
from ..util.files import atomic_write_text
from .study_rows import BY_ID, FINDINGS, ROWS, Finding, Row

FIGURE = "study_differences"


# ---- numbers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    mean: float
    sd: float  # sample standard deviation over the seeds (0 with one seed)
    n: int


def row_stats(summaries: list[dict[str, Any]], key: str = "mean") -> dict[str, Stats]:
    """{row id: Stats of the dev mean (key "mean") or of one task's dev score} over its seeds."""
    values: dict[str, list[float]] = {}
    for s in summaries:
        value = s.get("dev_mean") if key == "mean" else s.get("dev", {}).get(key)
        if value is not None and math.isfinite(value):
            values.setdefault(s["study"]["row"], []).append(float(value))
    return {r: Stats(mean(v), stdev(v) if len(v) > 1 else 0.0, len(v)) for r, v in values.items()}


def difference(a: Stats, b: Stats) -> tuple[float, float | None]:
    """(a - b, the seed spread of that difference): the sd of a difference of one seed of each,
    sqrt(sd_a^2 + sd_b^2); None when either side has a single seed (no spread measured)."""
    spread = math.sqrt(a.sd**2 + b.sd**2) if a.n > 1 and b.n > 1 else None
    return a.mean - b.mean, spread


HOLDS, REVERSED, WITHIN, DOES_NOT_HOLD, UNMEASURED, NOT_RUN, MIXED = (
    "holds",
    "reversed",
    "within the seed spread",
    "does not hold",
    "no seed spread (one seed)",
    "not run",
    "mixed",
)


def verdict(diff: float, spread: float | None, sign: int) -> str:
    """One comparison: `sign` +1 (the report: higher), -1 (lower) or 0 (no real change)."""
    if spread is None:
        return UNMEASURED
    if sign == 0:
        return HOLDS if abs(diff) <= spread else DOES_NOT_HOLD
    if abs(diff) <= spread:
        return WITHIN
    return HOLDS if diff * sign > 0 else REVERSED


def finding_verdict(finding: Finding, stats: dict[str, Stats]) -> tuple[str, list[str]]:
    """The finding's verdict over its comparisons (their common verdict, else "mixed"), and one
    line per comparison."""
    verdicts, lines = [], []
    for row, against, sign in finding.comparisons:
        if row not in stats or against not in stats:
            missing = [BY_ID[r] for r in (row, against) if r not in stats]
            why = "; ".join(f"{r.id}: {r.not_runnable or 'no recorded run'}" for r in missing)
            verdicts.append(NOT_RUN)
            lines.append(f"{row} vs {against}: not run ({why})")
            continue
        diff, spread = difference(stats[row], stats[against])
        v = verdict(diff, spread, sign)
        verdicts.append(v)
        shown = f"±{spread:.3f}" if spread is not None else "one seed"
        lines.append(
            f"{row} vs {against}: {diff:+.3f} (spread {shown}; report {BY_ID[row].report_mean - BY_ID[against].report_mean:+.3f}): {v}"
        )
    measured = [v for v in verdicts if v != NOT_RUN]
    if not measured:
        return NOT_RUN, lines
    common = measured[0] if len(set(measured)) == 1 else MIXED
    return (common if len(measured) == len(verdicts) else f"{common} (partly run)"), lines


def _cell(stats: dict[str, Stats], row: str) -> str:
    s = stats.get(row)
    if s is None:
        return "–"
    return f"{s.mean:.3f} ± {s.sd:.3f}" if s.n > 1 else f"{s.mean:.3f}"


def study_table(summaries: list[dict[str, Any]], rows: list[Row] | None = None) -> str:
    """One line per row: the report's dev SST / para / STS / mean, mtlib's mean ± sd over the
    seeds per task and of the mean, and the difference of the mean from the compared row (with
    the report's own difference beside it)."""
    rows = list(ROWS) if rows is None else rows
    per = {k: row_stats(summaries, k) for k in (*TASK_NAMES, "mean")}
    head = (
        "| row | report SST / para / STS (mean) | mtlib SST | mtlib para | mtlib STS | mtlib mean | seeds "
        "| vs | Δ mean (report Δ) |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for row in rows:
        report = " / ".join(f"{v:.3f}" for v in row.report) + f" ({row.report_mean:.3f})"
        n = per["mean"][row.id].n if row.id in per["mean"] else 0
        if not row.runnable:
            cells = ["not runnable", "", "", "", "–"]
        else:
            cells = [*(_cell(per[t], row.id) for t in TASK_NAMES), _cell(per["mean"], row.id), str(n) if n else "not run yet"]
        delta = ""
        if row.against:
            report_delta = row.report_mean - BY_ID[row.against].report_mean
            if row.id in per["mean"] and row.against in per["mean"]:
                diff, spread = difference(per["mean"][row.id], per["mean"][row.against])
                delta = f"{diff:+.3f}" + (f" ±{spread:.3f}" if spread is not None else "") + f" ({report_delta:+.3f})"
            else:
                delta = f"– ({report_delta:+.3f})"
        lines.append(f"| {row.label} | {report} | {' | '.join(cells)} | {row.against or ''} | {delta} |")
    return "\n".join(lines)


def findings_list(summaries: list[dict[str, Any]]) -> str:
    stats = row_stats(summaries)
    out = []
    for finding in FINDINGS:
        v, lines = finding_verdict(finding, stats)
        out.append(f"- **{finding.claim}**: {v}. " + "; ".join(lines) + ".")
    return "\n".join(out)


def not_runnable_list() -> str:
    return "\n".join(f"- {r.label} (`{r.id}`): {r.not_runnable}." for r in ROWS if not r.runnable)


def notes_list() -> str:
    return "\n".join(f"- {r.label} (`{r.id}`): {r.note}." for r in ROWS if r.note)


SPREAD_NOTE = (
    "Δ mean is the row's mean dev score (over its seeds) less that of the row the report compares it with, "
    "± sqrt(sd_row² + sd_other²), the seed-to-seed spread of that difference; the report's own Δ is in brackets. "
    "A finding holds when mtlib's Δ has the report's sign and exceeds the spread, is reversed when it has the other "
    "sign and exceeds it, and is within the seed spread otherwise; a 'does not really change' finding holds when Δ is "
    "within the spread."
)


def study_block(summaries: list[dict[str, Any]]) -> str:
    """docs/results.md's study block: per profile recorded, the table and the verdicts; with no
    recorded run, a sentence that says so (no number is made up)."""
    parts = []
    profiles = sorted({s["study"]["profile"] for s in summaries})
    if not profiles:
        parts.append(
            "No study run is recorded yet. `make study` (`python -m mtlib study --profile study-cpu --seeds 0,1,2`) runs "
            "the rows; `python -m mtlib study --record` copies the finished runs into results/study/, and `make results` "
            "fills this block with the table and a verdict per finding of the report."
        )
        parts.append("The report's rows, as the study runs them:\n\n" + study_table([]))
    for profile in profiles:
        mine = [s for s in summaries if s["study"]["profile"] == profile]
        parts.append(f"Profile `{profile}`:\n\n{study_table(mine)}\n\n{SPREAD_NOTE}\n\nThe report's findings:\n\n{findings_list(mine)}")
    parts.append("Rows the study cannot run:\n\n" + not_runnable_list())
    parts.append("Where a row differs from the report's:\n\n" + notes_list())
    return "\n\n".join(parts)


# ---- figure -------------------------------------------------------------------------------------
def differences_figure(summaries: list[dict[str, Any]]) -> Any:
    """Each measured row's difference in mean dev score from the row the report compares it
    with: a bar with the seed spread, and the report's own difference as a diamond."""
    import matplotlib.pyplot as plt

    stats = row_stats(summaries)
    rows = [r for r in ROWS if r.against and r.id in stats and r.against in stats]
    fig, ax = plt.subplots(figsize=(9, 0.42 * max(len(rows), 1) + 1.6))
    if not rows:
        ax.text(0.5, 0.5, "no row and its compared row both measured yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    y = list(range(len(rows)))[::-1]
    diffs = [difference(stats[r.id], stats[r.against]) for r in rows]
    errors = [s if s is not None else 0.0 for _, s in diffs]
    colours = ["#4c72b0" if d >= 0 else "#c44e52" for d, _ in diffs]
    ax.barh(y, [d for d, _ in diffs], xerr=errors, color=colours, alpha=0.8, capsize=3, label="mtlib (± seed spread)")
    ax.scatter([r.report_mean - BY_ID[r.against].report_mean for r in rows], y, marker="D", color="black", zorder=3, label="report")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r.id}  vs {r.against}" for r in rows], fontsize=8)
    ax.set_xlabel("Δ mean dev score (row − compared row)")
    seeds = sorted({s["study"]["seed"] for s in summaries})
    ax.set_title(f"Table 2 rows against the rows the report compares them with ({len(seeds)} seed(s))", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def write_outputs(summaries: list[dict[str, Any]], out: Path) -> list[Path]:
    """study.md (the block) and the figure into `out`."""
    from .plots import write_figure

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "study.md", "# The reference report's Table 2, rerun\n\n" + study_block(summaries) + "\n")
    import matplotlib.pyplot as plt

    fig = differences_figure(summaries)
    try:
        return [out / "study.md", *write_figure(fig, out, FIGURE)]
    finally:
        plt.close(fig)
