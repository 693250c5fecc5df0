"""The study's report: each Table 2 row's scores over its seeds, each comparison the report makes
paired by seed with a verdict (`mtlib.workbook.study.stats`), and the forest plot of those
comparisons (`mtlib.workbook.study` runs the rows, `study_records` keeps them).

Records are read per *study set* (one profile on one kind of machine at one precision,
`study_records.set_name`): runs are compared only within a set. A record from a dirty tree, or
one that cannot give the score of its row's own stage (`Row.scored_stage`), is left out and
counted, never mixed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, stdev
from typing import Any

from ...config.tasks import TASK_NAMES
from . import stats as st
from .records import set_name
from .rows import BY_ID, FINDINGS, ROWS, Row


# ---- scores -------------------------------------------------------------------------------------
def score(summary: dict[str, Any], key: str = "mean") -> float | None:
    """The record's dev score (`key` "mean" or a task) on its row's own stage; None when the record
    holds no scores of that stage (an older record whose reported stage was another)."""
    row = BY_ID[summary["study"]["row"]]
    stage = (summary.get("stages") or {}).get(row.scored_stage)
    if stage is None:
        if summary.get("reported_stage") not in ("", None, row.scored_stage):
            return None
        stage = summary
    value = stage.get("dev_mean") if key == "mean" else (stage.get("dev") or {}).get(key)
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass
class StudySet:
    """The records of one study set: `scores[key][row][seed]`, and what was left out."""

    name: str
    records: list[dict[str, Any]]
    scores: dict[str, dict[str, dict[int, float]]]
    dirty: list[str]
    unscored: list[str]

    @property
    def seeds(self) -> list[int]:
        return sorted({s for per_row in self.scores["mean"].values() for s in per_row})

    def describe(self) -> str:
        kept = [r for r in self.records if r["run"] not in {*self.dirty, *self.unscored}]
        commits = sorted({(r.get("git") or {}).get("commit", "")[:7] or "?" for r in kept})
        cpus = sorted({r.get("cpu") or r.get("device") or "?" for r in kept})
        out = (
            f"{len(kept)} runs, seeds {', '.join(map(str, self.seeds)) or 'none'}; machine {', '.join(cpus)}, "
            f"precision {kept[0].get('precision') or '?' if kept else '?'}; commits {', '.join(commits)}"
        )
        if self.dirty:
            out += f"; left out, from a dirty tree: {len(self.dirty)} ({', '.join(self.dirty)})"
        if self.unscored:
            out += f"; left out, no scores of the row's own stage: {len(self.unscored)} ({', '.join(self.unscored)})"
        return out


def study_sets(summaries: list[dict[str, Any]], keep_dirty: bool = False) -> list[StudySet]:
    """The records grouped by study set, largest first. A record from a dirty tree is left out
    (named) unless `keep_dirty`: your own run folders, read while you work on the code."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        grouped.setdefault(set_name(s), []).append(s)
    out = []
    for name, records in grouped.items():
        scores: dict[str, dict[str, dict[int, float]]] = {k: {} for k in ("mean", *TASK_NAMES)}
        dirty = [r["run"] for r in records if (r.get("git") or {}).get("dirty") and not keep_dirty]
        unscored = [r["run"] for r in records if r["run"] not in dirty and score(r) is None]
        for r in records:
            if r["run"] in dirty or r["run"] in unscored:
                continue
            for key in scores:
                if (value := score(r, key)) is not None:
                    scores[key].setdefault(r["study"]["row"], {})[r["study"]["seed"]] = value
        out.append(StudySet(name, records, scores, dirty, unscored))
    return sorted(out, key=lambda s: (-len(s.scores["mean"]) * len(s.seeds), s.name))


def comparisons(study_set: StudySet) -> dict[tuple[str, str, int], st.Paired]:
    """Every comparison of the findings that both rows measured, paired by seed, Holm-corrected
    over all of them."""
    means = study_set.scores["mean"]
    wanted = [c for f in FINDINGS for c in f.comparisons if c[0] in means and c[1] in means]
    unique = list(dict.fromkeys(wanted))
    done = st.corrected([st.paired(r, a, e, means[r], means[a]) for r, a, e in unique])
    return dict(zip(unique, done))


# ---- text ---------------------------------------------------------------------------------------
def _cell(per_seed: dict[int, float] | None) -> str:
    if not per_seed:
        return "–"
    v = list(per_seed.values())
    return f"{mean(v):.3f} ± {stdev(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def _report_delta(row: str, against: str) -> float:
    return BY_ID[row].report_mean - BY_ID[against].report_mean


def _interval(c: st.Paired) -> str:
    return f"[{c.ci[0]:+.3f}, {c.ci[1]:+.3f}]" if c.n > 1 else "[no spread: one seed]"


def study_table(study_set: StudySet | None, rows: list[Row] | None = None) -> str:
    """One line per row: the report's dev scores, mtlib's mean ± sd over the seeds per task and of
    the mean, and the paired difference from the compared row with its 95% interval."""
    rows = list(ROWS) if rows is None else rows
    scores = study_set.scores if study_set else {k: {} for k in ("mean", *TASK_NAMES)}
    paired = comparisons(study_set) if study_set else {}
    by_pair = {(r, a): c for (r, a, _), c in paired.items()}
    head = (
        "| row | report SST / para / STS (mean) | mtlib SST | mtlib para | mtlib STS | mtlib mean | seeds "
        "| vs | paired Δ mean [95% CI] (report Δ) |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for row in rows:
        report = " / ".join(f"{v:.3f}" for v in row.report) + f" ({row.report_mean:.3f})"
        n = len(scores["mean"].get(row.id, {}))
        if not row.runnable:
            cells = ["not runnable", "", "", "", "–"]
        else:
            cells = [*(_cell(scores[t].get(row.id)) for t in (*TASK_NAMES, "mean")), str(n) if n else "not run yet"]
        delta = ""
        if row.against:
            c = by_pair.get((row.id, row.against)) or (
                st.paired(row.id, row.against, 0, scores["mean"].get(row.id, {}), scores["mean"].get(row.against, {}))
                if study_set
                else None
            )
            if c is not None and c.n:
                delta = f"{c.mean:+.3f} {_interval(c)} over {c.n}"
            delta = f"{delta or '–'} ({_report_delta(row.id, row.against):+.3f})"
        lines.append(f"| {row.label} | {report} | {' | '.join(cells)} | {row.against or ''} | {delta} |")
    return "\n".join(lines)


def comparison_line(c: st.Paired) -> str:
    if c.n < 2:
        return f"{c.row} vs {c.against}: {c.n} paired seed(s), no spread to judge by: {st.INCONCLUSIVE}"
    needs = f"{c.seeds_for_target}" if c.seeds_for_target else f"over {st.MAX_SEEDS}"
    return (
        f"{c.row} vs {c.against}: Δ {c.mean:+.3f} {_interval(c)} over {c.n} paired seeds, p_Holm {c.p_holm:.2g}, "
        f"equivalence p_Holm {c.p_equivalent_holm:.2g}; detectable {c.detectable:.3f}, {st.TARGET:g} needs {needs} seeds"
        + (" (the spread itself from so few seeds is rough)" if c.n < 5 else "")
        + "; "
        f"report {_report_delta(c.row, c.against):+.3f}: **{c.verdict}**"
    )


def findings_list(study_set: StudySet) -> str:
    paired = comparisons(study_set)
    out = []
    for finding in FINDINGS:
        verdicts, lines = [], []
        for comparison in finding.comparisons:
            c = paired.get(comparison)
            if c is None:
                missing = [BY_ID[r] for r in comparison[:2] if r not in study_set.scores["mean"]]
                lines.append(
                    f"{comparison[0]} vs {comparison[1]}: not run ("
                    + "; ".join(f"{r.id}: {r.not_runnable or 'no recorded run'}" for r in missing)
                    + ")"
                )
                verdicts.append(st.NOT_RUN)
            else:
                lines.append(comparison_line(c))
                verdicts.append(c.verdict if c.n > 1 else st.INCONCLUSIVE)
        note = f" ({finding.note})" if finding.note else ""
        out.append(f"- **{finding.claim}**{note}: {st.finding_verdict(verdicts)}. " + "; ".join(lines) + ".")
    return "\n".join(out)


def bullet_list(items: list[str]) -> str:
    return "\n".join(f"- {item}." for item in items)


STATS_NOTE = (
    f"Paired by seed: a seed fixes every row's data order, initialisation and dev rows, so each comparison is the mean of "
    f"the per-seed differences of the mean dev score, with a Student t 95% interval (n − 1 degrees of freedom). Verdicts "
    f"(`mtlib/workbook/study/stats.py`, scipy.stats): **holds** or **reversed** when the paired t-test rejects Δ = 0 "
    f"after Holm's correction over all the study's comparisons (α {st.ALPHA:g}), with the report's sign or the other; "
    f"**{st.EQUIVALENT}** when two one-sided tests (Holm-corrected) put Δ inside ±{st.MARGIN:g}, a margin fixed before "
    f'any record was read (a "does not really change" claim then holds); **inconclusive** otherwise. *Detectable* is '
    f"the smallest difference a paired t-test at α {st.ALPHA:g} finds with power {st.POWER:g} given the measured spread "
    f"and seeds; the seeds needed for {st.TARGET:g} are at the same spread."
)


def study_block(summaries: list[dict[str, Any]], keep_dirty: bool = False) -> str:
    """docs/results.md's study block: per study set, the table and the verdicts; with no record,
    a sentence that says so (no number is made up)."""
    parts = []
    sets = study_sets(summaries, keep_dirty)
    if not sets:
        parts.append(
            "No study run is recorded yet. `make study` (`python -m mtlib study --profile study-cpu --seeds 0,1,2`) runs "
            "the rows; `python -m mtlib study --record` copies the finished runs into results/study/, and `make results` "
            "fills this block with the table and a verdict per finding of the report."
        )
        parts.append("The report's rows, as the study runs them:\n\n" + study_table(None))
    for study_set in sets:
        parts.append(
            f"Study set `{study_set.name}` ({study_set.describe()}):\n\n{study_table(study_set)}\n\n"
            f"The report's findings:\n\n{findings_list(study_set)}"
        )
    parts.append(STATS_NOTE)
    parts.append(
        "Rows the study cannot run:\n\n" + bullet_list([f"{r.label} (`{r.id}`): {r.not_runnable}" for r in ROWS if not r.runnable])
    )
    parts.append(
        "Where a row differs from the report's, and what a comparison holds equal:\n\n"
        + bullet_list([f"{r.label} (`{r.id}`): {r.note}" for r in ROWS if r.note])
    )
    return "\n\n".join(parts)


def study_lead(summaries: list[dict[str, Any]]) -> str:
    """The README's study sentence, from the largest study set: how many findings each verdict
    has, what the seeds could detect, and what a study that detects 0.01 would cost."""
    sets = study_sets(summaries)
    if not sets:
        return "No study run is recorded yet (`make study`, then `python -m mtlib study --record` and `make results`)."
    main = sets[0]
    paired = comparisons(main)
    verdicts = []
    for finding in FINDINGS:
        per = [
            paired[c].verdict if c in paired and paired[c].n > 1 else st.INCONCLUSIVE if c in paired else st.NOT_RUN
            for c in finding.comparisons
        ]
        verdicts.append(st.finding_verdict(per))
    counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
    told = ", ".join(f"{n} {v}" for v, n in counts.items())
    measured = [c for c in paired.values() if c.n > 1 and math.isfinite(c.detectable)]
    seeds = sorted(c.n for c in measured)
    detect = sorted(c.detectable for c in measured)
    needs = sorted(c.seeds_for_target for c in measured if c.seeds_for_target)
    minutes = [
        r["wall_seconds"] / 60 for r in main.records if isinstance(r.get("wall_seconds"), (int, float)) and not r.get("shared_cores")
    ]
    rows = len({r for c in paired for r in c[:2]})
    left_out = len(main.dirty) + len(main.unscored)
    out = (
        f"Study set `{main.name}`: {len(main.records) - left_out} runs" + (f" ({left_out} more left out)" if left_out else "")
        + f", {_seed_range(seeds)} paired seeds per comparison. "
        f"Of the report's {len(FINDINGS)} findings: {told}."
    )  # fmt: skip
    if detect:
        out += f" The smallest differences these seeds could detect (α 0.05, power 0.8) run from {detect[0]:.3f} to {detect[-1]:.3f}"
        out += "; the report's differences are mostly 0.003 to 0.04."
    if needs and not minutes:
        out += f" Detecting 0.01 needs a median of {needs[len(needs) // 2]} paired seeds per row (at the spread measured)."
    if needs and minutes:
        median = needs[len(needs) // 2]
        hours = median * rows * mean(minutes) / 60
        out += (
            f" Detecting 0.01 needs a median of {median} paired seeds per row (at the spread measured), about {hours:.0f} "
            f"CPU-hours for the {rows} compared rows at {mean(minutes):.1f} min a run as recorded: a cluster's job array "
            "(`--launcher slurm`, docs/distributed.md)."
        )
    for other in sets[1:]:
        out += f" Also recorded: study set `{other.name}` ({other.describe()}); docs/results.md judges each set alone."
    return out


def _seed_range(seeds: list[int]) -> str:
    """ "7 to 10", or "10" when every comparison has as many seeds (seeds sorted)."""
    low, high = (seeds[0], seeds[-1]) if seeds else (0, 0)
    return str(low) if low == high else f"{low} to {high}"
