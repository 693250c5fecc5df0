"""`python -m mtlib study --profile study-cpu --seeds 0,1,2`: the reference report's Table 2, row
by row, with seeds, beside the report's own numbers.

Each row of `mtlib.workbook.study_rows.ROWS` that mtlib can run is a set of settings over the
profile's recipe (the profile sets the scale: `study-cpu`, `study-gpu`; `smoke` for tests), run
with every seed through `mtlib.workbook.recipe.run_recipe` into a run folder named from the
profile, the row and the seed alone:

    runs/study-study-cpu-base-pal-s0/          "study", profile, row, seed

As `sweep` does (and with its machinery): a finished run with the same settings is skipped
without loading anything, an unfinished one continues. The rows it cannot run are named, with
why. Last it writes runs/studies/<profile>/study.md (the table: each row's mean ± sd over its
seeds, the report's scores, the difference from the row the report compares it with, and a
verdict per finding of the report), the figure study_differences.png/.svg beside it, and the
runs' comparison (`mtlib.workbook.compare`). `--record` copies the finished runs' summaries
into results/study/, which `make results` renders into docs/results.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from ..util import paths
from ..util.errors import ConfigError, run_command
from ..util.files import atomic_write_json, atomic_write_text, read_json
from .study_rows import BY_ID, FINDINGS, ROWS, Finding, Row
from .sweep import _seeds, _slug, finished_with, refuse_seed_settings

RECORDS = paths.project_root() / "results" / "study"
FIGURE = "study_differences"
TASKS3 = ("sst", "para", "sts")


@dataclass(frozen=True)
class StudyRun:
    name: str
    row: Row
    seed: int

    @property
    def sets(self) -> list[str]:
        return [*self.row.sets, f"seed={self.seed}"]


def profile_stem(profile: str) -> str:
    return _slug(Path(profile).stem if profile.endswith((".yaml", ".yml")) else profile)


def select_rows(ids: list[str] | None) -> list[Row]:
    """The rows named (all when none), in the table's order; an unknown id is refused."""
    if not ids:
        return list(ROWS)
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        raise ConfigError(f"--rows {unknown[0]!r} is no row of the study; rows are {', '.join(BY_ID)}")
    return [r for r in ROWS if r.id in ids]


def plan(profile: str, seeds: list[int], rows: list[Row]) -> list[StudyRun]:
    """Every (runnable row, seed), named `study-<profile>-<row>-s<seed>`."""
    stem = profile_stem(profile)
    return [StudyRun(paths.check_run_name(f"study-{stem}-{row.id}-s{seed}"), row, seed) for row in rows if row.runnable for seed in seeds]


def study(
    profile: str,
    seeds: list[int],
    row_ids: list[str] | None = None,
    sets: list[str] | None = None,
    root: str | Path | None = None,
    out: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every runnable row and seed not yet finished, then write the table and figure."""
    say = say or (lambda text: print(f"[study] {text}", flush=True))
    refuse_seed_settings([], sets or [])
    rows = select_rows(row_ids)
    for row in rows:
        if not row.runnable:
            say(f"not run: {row.label} ({row.id}): {row.not_runnable}")
    runs = plan(profile, seeds, rows)
    runs_dir = paths.runs_dir(root or "")
    done: dict[str, list[str]] = {"trained": [], "skipped": []}
    spent: list[float] = []
    for i, run in enumerate(runs, start=1):
        folder = runs_dir / run.name
        all_sets = [*(sets or []), *run.sets]
        head = f"{i}/{len(runs)} {run.name} ({run.row.label}, seed {run.seed})"
        if finished_with(folder, profile, all_sets):
            say(f"{head}: finished before, skipped")
            done["skipped"].append(run.name)
            continue
        say(f"{head}: {'continuing' if folder.exists() else 'training'} ...")
        start = time.perf_counter()
        results = run_recipe_for(profile, run, all_sets, runs_dir)
        spent.append(time.perf_counter() - start)
        left = sum(1 for r in runs[i:] if not (runs_dir / r.name / "results.json").is_file())
        eta = f"; about {left * sum(spent) / len(spent) / 60:.1f} min left" if left else ""
        say(f"{head}: done in {spent[-1]:.0f} s, mean dev {results['dev_mean']:.3f}{eta}")
        done["trained"].append(run.name)
    out = Path(out) if out else runs_dir / "studies" / profile_stem(profile)
    summaries = summaries_of(runs_dir, runs, profile)
    write_outputs(summaries, out)
    folders = [runs_dir / r.name for r in runs]
    if len(folders) > 1:
        from .compare import compare

        compare(folders, out, groups={r.name: r.row.label for r in runs})
    say(f"table: {out / 'study.md'}")
    return {"runs": [r.name for r in runs], **done, "out": str(out), "not_run": [r.id for r in rows if not r.runnable]}


def run_recipe_for(profile: str, run: StudyRun, sets: list[str], runs_dir: Path) -> dict[str, Any]:
    from .recipe import run_recipe

    return run_recipe(profile, run.name, sets, root=runs_dir, stages=run.row.stages)


# ---- records ------------------------------------------------------------------------------------
def summary_of(folder: Path, run: StudyRun, profile: str) -> dict[str, Any]:
    """A finished study run's summary (`run_summaries.summarise`) with its row, seed and profile."""
    from .run_summaries import summarise

    return summarise(folder, run.row.label, run.row.id) | {"study": {"row": run.row.id, "seed": run.seed, "profile": profile_stem(profile)}}


def summaries_of(runs_dir: Path, runs: list[StudyRun], profile: str) -> list[dict[str, Any]]:
    return [summary_of(runs_dir / r.name, r, profile) for r in runs if (runs_dir / r.name / "results.json").is_file()]


def find_runs(runs_dir: str | Path = "", profile: str = "") -> list[dict[str, Any]]:
    """The summaries of every finished study run in `runs_dir` (of `profile` when given): what
    notebook 05 reads. A folder is a study run when its name is `study-<profile>-<row>-s<seed>`
    for a row of the table."""
    folder = paths.runs_dir(runs_dir)
    found = []
    for path in sorted(folder.glob("study-*-s*")) if folder.is_dir() else []:
        head, _, seed = path.name.rpartition("-s")
        row = next((r for r in ROWS if head.endswith(f"-{r.id}") and head.startswith("study-")), None)
        stem = head[len("study-") : -len(row.id) - 1] if row else ""
        if row is None or not seed.isdigit() or not stem or not (path / "results.json").is_file():
            continue
        if profile and stem != profile_stem(profile):
            continue
        found.append(summary_of(path, StudyRun(path.name, row, int(seed)), stem))
    return found


def record(runs_dir: str | Path = "", profile: str = "", to: Path | None = None) -> list[Path]:
    """results/study/<run>.json for every finished study run in `runs_dir` (of `profile`)."""
    to = to or RECORDS
    to.mkdir(parents=True, exist_ok=True)
    written = []
    for summary in find_runs(runs_dir, profile):
        path = to / f"{summary['run']}.json"
        atomic_write_json(path, summary)
        written.append(path)
    return written


def load_records(folder: Path | None = None) -> list[dict[str, Any]]:
    folder = folder or RECORDS
    return [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


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
    per = {k: row_stats(summaries, k) for k in (*TASKS3, "mean")}
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
            cells = [*(_cell(per[t], row.id) for t in TASKS3), _cell(per["mean"], row.id), str(n) if n else "not run yet"]
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


def output_folder(out: str = "", runs_dir: str = "") -> Path:
    """Where notebook 05 writes study.md and the figure: `out` (relative: from the project
    root), else runs/studies/notebook-05/."""
    return paths.from_root(out) if out else paths.runs_dir(runs_dir) / "studies" / "notebook-05"


def open_records(runs_dir: str = "", profile: str = "", recorded: bool = False) -> list[dict[str, Any]]:
    """Notebook 05's input: the finished study runs in `runs_dir` (of `profile` when given), or
    with `recorded` the summaries in results/study/; says how many it found and where."""
    if recorded:
        where, summaries = str(RECORDS), load_records()
        summaries = [s for s in summaries if not profile or s["study"]["profile"] == profile_stem(profile)]
    else:
        where, summaries = str(paths.runs_dir(runs_dir)), find_runs(runs_dir, profile)
    rows = sorted({s["study"]["row"] for s in summaries}, key=list(BY_ID).index)
    print(f"{len(summaries)} finished study run(s) in {where}" + (f", rows: {', '.join(rows)}" if rows else ": run `make study` first"))
    return summaries


def update_block(records: Path, figure_dir: Path | None = None) -> str:
    """docs/results.md's study block from the records in `records` (results/study/); with
    `figure_dir` and records, also the figure there (`make results`)."""
    summaries = load_records(records)
    if figure_dir is not None and summaries:
        import matplotlib.pyplot as plt

        from .plots import write_figure

        fig = differences_figure(summaries)
        write_figure(fig, figure_dir, FIGURE)
        plt.close(fig)
    return study_block(summaries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="study-cpu", help="mtlib/profiles/<profile>.yaml (or a YAML path): the scale")
    parser.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--rows", default="", help=f"comma-separated rows (default all): {', '.join(BY_ID)}")
    parser.add_argument(
        "--set", action="append", default=[], metavar="[STAGE.]KEY=VALUE", help="a fixed setting for every run (repeatable)"
    )
    parser.add_argument("--runs_dir", default="", help="folder for run folders (default: $MTLIB_RUNS or runs/)")
    parser.add_argument("--out", default="", help="folder for the table and figure (default: runs/studies/<profile>/)")
    parser.add_argument("--record", action="store_true", help="train nothing: copy the profile's finished study runs into results/study/")
    parser.add_argument("--list", action="store_true", help="train nothing: list the rows, their settings and what cannot run")
    args = parser.parse_args(argv)
    ids = [r.strip() for r in args.rows.split(",") if r.strip()]

    def work() -> None:
        if args.list:
            for row in select_rows(ids):
                what = (" ".join(row.settings) or "the BaseModel as is") if row.runnable else f"NOT RUNNABLE: {row.not_runnable}"
                print(f"{row.id:20} {row.label}\n{'':20} {what}")
            return
        if args.record:
            for path in record(args.runs_dir, args.profile):
                print(f"recorded {path}")
            return
        study(args.profile, args.seeds, ids, args.set, args.runs_dir or None, args.out or None)

    return run_command("mtlib.study", work)


if __name__ == "__main__":
    sys.exit(main())
