"""The Markdown tables of recorded runs' dev scores (docs/results.md, `mtlib.workbook.reports.compare`):
one cell per score with its interval, one row per run or per group of seeds, the gains of a
recipe over a baseline and the ablations against a base configuration. The summaries they read
are `mtlib.workbook.reports.result_tables.summarise`'s."""

from __future__ import annotations

import math
from statistics import mean, stdev
from typing import Any

from ...config.tasks import DEV_SPLIT_TASKS, TASKS

TASK_ORDER = tuple(TASKS)
TASK_LABELS = " | ".join(spec.table_label for spec in TASKS.values())
TABLES = ("comparison", "candidates", "ablation")
BLOCKS = (*TABLES, "seeds", "gains", "recall")
SPLIT_NOTE = " ".join(
    f"{TASKS[t].name.capitalize()} is scored on the held-out fifth of {TASKS[t].files['dev']} (the md5 split; "
    f"{TASKS[t].files['train']} is absent from the mirror), not on the official dev set."
    for t in DEV_SPLIT_TASKS
)


def tables_of(summary: dict[str, Any]) -> list[str]:
    return summary.get("tables") or ["comparison"]


def half_width(summary: dict[str, Any], task: str) -> float | None:
    low, high = summary.get("ci95", {}).get(task, [None, None])
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return (high - low) / 2


def mean_half_width(summary: dict[str, Any]) -> float | None:
    """Half-width of the 95% interval of the three-task mean, from the per-task intervals taken
    as independent (the dev sets share no examples): sqrt(sum h_t^2) / n_tasks."""
    widths = [half_width(summary, t) for t in summary["dev"]]
    if not widths or any(w is None for w in widths):
        return None
    return math.sqrt(sum(w * w for w in widths)) / len(widths)


def groups(summaries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        out.setdefault(s.get("group") or s["run"], []).append(s)
    return out


def stats(runs: list[dict[str, Any]], task: str) -> tuple[float, float, int] | None:
    """(mean, sample standard deviation, n) of a task's dev score over a group's runs; `task` may
    be "mean" for the three-task mean."""
    values = [r["dev_mean"] if task == "mean" else r["dev"].get(task) for r in runs]
    values = [v for v in values if v is not None]
    if not values:
        return None
    return mean(values), (stdev(values) if len(values) > 1 else 0.0), len(values)


# ---- tables -------------------------------------------------------------------------------------
def score_cell(summary: dict[str, Any], task: str) -> str:
    value = summary["dev_mean"] if task == "mean" else summary["dev"].get(task)
    if value is None:
        return "–"
    if task == "mean":
        h = mean_half_width(summary)
        return f"{value:.3f} ±{h:.3f}" if h is not None else f"{value:.3f}"
    low, high = summary.get("ci95", {}).get(task, [None, None])
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if low is not None else f"{value:.3f}"


def _group_cell(runs: list[dict[str, Any]], task: str) -> str:
    if len(runs) == 1:
        return score_cell(runs[0], task)
    st = stats(runs, task)
    return "–" if st is None else f"{st[0]:.3f} ± {st[1]:.3f}"


def timed_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs whose wall time is the configuration's cost: those that had the machine to
    themselves (recorded without `--shared_cores`), or all of them when none did."""
    alone = [r for r in runs if r.get("wall_seconds") and not r.get("shared_cores")]
    return alone or [r for r in runs if r.get("wall_seconds")]


def wall_cell(runs: list[dict[str, Any]]) -> str:
    """The mean wall time of the timed runs, with their range when there are several; runs that
    shared the cores are named and left out of it."""
    timed = timed_runs(runs)
    if not timed:
        return "–"
    walls = [r["wall_seconds"] / 60 for r in timed]
    text = f"{mean(walls):.1f} min" + (f" ({min(walls):.1f} to {max(walls):.1f})" if len(walls) > 1 else "")
    shared = [r for r in runs if r.get("shared_cores")]
    if shared and len(timed) < len([r for r in runs if r.get("wall_seconds")]):
        text += "; " + ", ".join(f"`{r['run']}` {r['wall_seconds'] / 60:.1f} min" for r in shared) + " with the cores shared"
    elif shared:
        text += " (cores shared)"
    return text


def where_cell(runs: list[dict[str, Any]]) -> str:
    """The machine and precision of a run: the CPU model and its ISA, or the GPU (older
    records, made before the CPU model was kept, say "cpu")."""
    r = runs[0]
    device = r.get("device") or "?"
    if device == "cpu" and r.get("cpu"):
        device = f"{r['cpu']} ({r['cpu_capability']})" if r.get("cpu_capability") else r["cpu"]
    amp = r.get("amp") or ""
    precision = r.get("precision") or (amp if amp and amp not in ("off", "auto") else "fp32" if amp == "off" else "")
    if precision == "fp32" and r.get("device") not in ("cpu", None):
        precision = "fp32 (TF32 matmuls)"  # mtlib.model.amp switches TF32 on for CUDA
    threads = f", {r['threads']} threads" if r.get("threads") and r.get("device") == "cpu" else ""
    return f"{device}{', ' + precision if precision else ''}{threads}"


def comparison_table(summaries: list[dict[str, Any]], table: str = "comparison", order: list[str] | None = None) -> str:
    """One row per group (a configuration's seeds), in `order` first, then as recorded."""
    rank = {name: i for i, name in enumerate(order or [])}
    rows = [
        f"| configuration | runs | {TASK_LABELS} | mean | wall time | device |",
        "|---|---|---|---|---|---|---|---|",
    ]
    chosen = groups([s for s in summaries if table in tables_of(s)])
    for name, runs in sorted(chosen.items(), key=lambda item: rank.get(item[0], len(rank))):
        cells = " | ".join(_group_cell(runs, t) for t in (*TASK_ORDER, "mean"))
        names = ", ".join(f"`{r['run']}`" for r in runs)
        label = runs[0]["label"] if len(runs) == 1 else name
        seeds = f"{len(runs)} seeds: " if len(runs) > 1 else ""
        rows.append(f"| {label} | {seeds}{names} | {cells} | {wall_cell(runs)} | {where_cell(runs)} |")
    rows += [
        "",
        "One run: dev score [bootstrap 95% interval]; the mean's ± is its 95% half-width (per-task "
        "intervals combined as independent). Several seeds: mean ± standard deviation over the seeds "
        f"(each seed's intervals are in the table of all runs). *{SPLIT_NOTE}",
    ]
    return "\n".join(rows)


def seeds_table(summaries: list[dict[str, Any]]) -> str:
    rows = [
        f"| run | group | {TASK_LABELS} | mean | wall time | device | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sorted(summaries, key=lambda s: (TABLES.index(tables_of(s)[0]), s.get("group", ""), s["run"])):
        cells = " | ".join(score_cell(s, t) for t in (*TASK_ORDER, "mean"))
        command = " ; ".join(line.strip() for line in s.get("command", "").splitlines() if line.strip())
        rows.append(f"| `{s['run']}` | {s.get('group', '')} | {cells} | {wall_cell([s])} | {where_cell([s])} | `{command}` |")
    rows += ["", f"Dev score [bootstrap 95% interval]. *{SPLIT_NOTE}"]
    return "\n".join(rows)


def gains_table(summaries: list[dict[str, Any]], recipe: str | list[str], baseline: str) -> str:
    """The recipe's gain over the baseline group, task by task, against the seed spread. `recipe`
    is a group, or a list of groups whose runs are pooled (the same training recipe run on
    several devices, say: their spread is the wider, more honest one)."""
    by_group = groups(summaries)
    names = [recipe] if isinstance(recipe, str) else list(recipe)
    if any(n not in by_group for n in names) or baseline not in by_group:
        return f"(no recorded runs for `{' + '.join(names)}` and `{baseline}`)"
    ours, base = [r for n in names for r in by_group[n]], by_group[baseline]
    title = " + ".join(names)
    rows = [
        f"| task | {title} (mean ± sd, n) | {baseline} | gain | gain / seed sd | baseline's 95% half-width | every run above the baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in (*TASK_ORDER, "mean"):
        st, bt = stats(ours, task), stats(base, task)
        if st is None or bt is None:
            continue
        gain = st[0] - bt[0]
        ratio = f"{gain / st[1]:.1f}" if st[1] > 0 else "–"
        hw = mean_half_width(base[0]) if task == "mean" else half_width(base[0], task)
        shown_hw = f"±{hw:.3f}" if hw is not None else "–"
        values = [r["dev_mean"] if task == "mean" else r["dev"][task] for r in ours]
        above = "yes" if all(v > bt[0] for v in values) else "no"
        rows.append(f"| {task} | {st[0]:.4f} ± {st[1]:.4f} ({st[2]}) | {bt[0]:.4f} | {gain:+.4f} | {ratio} | {shown_hw} | {above} |")
    return "\n".join(rows)


def ablation_table(summaries: list[dict[str, Any]], base: str) -> str:
    """Each ablation against the base configuration's seeds: the change of each score and of the
    mean, next to the base's seed-to-seed standard deviation."""
    by_group = groups([s for s in summaries if "ablation" in tables_of(s)])
    if base not in by_group:
        return f"(no recorded runs for the base `{base}`)"
    base_runs = by_group[base]
    header = f"| variant | runs | {TASK_LABELS} | mean | Δ mean vs base | Δ / base sd |"
    rows = [header, "|---|---|---|---|---|---|---|---|"]
    base_mean = stats(base_runs, "mean")
    if base_mean is None:
        return f"(the base `{base}` has no mean score)"
    for name, runs in by_group.items():
        cells = []
        for task in (*TASK_ORDER, "mean"):
            st, bt = stats(runs, task), stats(base_runs, task)
            if st is None or bt is None:
                cells.append("–")
            elif name == base:
                cells.append(f"{st[0]:.3f} ± {st[1]:.3f}")
            else:
                cells.append(f"{st[0]:.3f} ({st[0] - bt[0]:+.3f})")
        st = stats(runs, "mean")
        if st is None:
            continue
        delta = st[0] - base_mean[0]
        ratio = f"{delta / base_mean[1]:+.1f}" if base_mean[1] > 0 and name != base else "–"
        label = runs[0]["label"] if name != base else f"**{name}** (base)"
        shown_delta = "–" if name == base else f"{delta:+.4f}"
        names = ", ".join(f"`{r['run']}`" for r in runs)
        rows.append(f"| {label} | {names} | {' | '.join(cells)} | {shown_delta} | {ratio} |")
    rows += [
        "",
        f"Variants: one seed (seed 0) each, the base's settings otherwise; in brackets the change against the "
        f"base's mean over its seeds (base sd of the mean: {base_mean[1]:.4f}). *{SPLIT_NOTE}",
    ]
    return "\n".join(rows)


def recall_table(summaries: list[dict[str, Any]]) -> str:
    """Each recorded run's dev recall per class of the multi-class tasks (a collapsed class shows
    as a recall near 0), with its smallest; runs recorded without predictions are left out."""
    blocks = []
    for task, spec in TASKS.items():
        runs = [s for s in summaries if s.get("recall", {}).get(task)]
        if not runs:
            continue
        names = spec.class_names or tuple(str(c) for c in range(spec.num_outputs))
        lines = [
            f"{spec.title}, dev recall per class:",
            "",
            f"| run | configuration | {' | '.join(names)} | smallest |",
            "|---|---|" + "---|" * (len(names) + 1),
        ]
        for s in sorted(runs, key=lambda r: r["run"]):
            values = s["recall"][task]
            known = [v for v in values if v is not None]
            cells = " | ".join("–" if v is None else f"{v:.2f}" for v in values)
            lines.append(f"| `{s['run']}` | {s.get('group') or s['run']} | {cells} | {min(known):.2f} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) or "No recorded run holds its per-class predictions."
