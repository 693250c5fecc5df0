"""The notebooks' sentences about results, written from the results.

Where a notebook states a fact that depends on the run (a collapsed class, the reported
stage, a score below its baseline, what a figure shows), the sentence comes from here, so it
is true for the run at hand. Each function returns Markdown text; `md` wraps it for display.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...config.tasks import TASKS, pair_modes
from ...store.results_file import RunResult
from ...util import paths

LOW_RECALL = 0.10  # a class recalled less often than this has (nearly) collapsed
SINGLE_TASK_BASELINE = "results/baseline-trainer-gpu.json"  # single-task Trainer runs of the packaged encoder


def md(text: str) -> Any:
    from IPython.display import Markdown

    return Markdown(text)


def _names(items: list[str]) -> str:
    shown = [f"*{x}*" for x in items]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


# ---- 01 ----------------------------------------------------------------------------------------
def data_summary(data_dir: Path, profile: str, pair_encoding: str, max_length: int, notes: list[str]) -> str:
    modes = pair_modes(pair_encoding)
    how = {"cross": "cross-encoded (`[CLS] s1 [SEP] s2 [SEP]`, one sequence)", "bi": "bi-encoded (each sentence alone, SBERT style)"}
    lines = [f"Task files read from `{data_dir}`. Profile `{profile}`: at most {max_length} tokens per example."]
    lines += [f"- {TASKS[t].title} pairs are {how[m]}." for t, m in modes.items()]
    lines += [f"- Note: {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines)


def percent(share: float) -> str:
    """A share as a percentage that never rounds a non-zero share to 0.0%: 4 of 80,000 is 0.005%."""
    if share == 0 or share >= 0.001:
        return f"{share:.1%}"
    return f"{share * 100:.1g}%"


def truncation_summary(table: pd.DataFrame, max_length: int, pair_encoding: str = "") -> str:
    """What `max_length` cuts, counted per split (`mtlib.workbook.sections.explore.truncation_table`,
    whose pair lengths are cross-encoded: `[CLS] s1 [SEP] s2 [SEP]`). With `pair_encoding`, it
    says which pair tasks the model reads bi-encoded, where those counts are an upper bound."""
    cut = table[table["truncated"] > 0]
    if cut.empty:
        return f"No example is longer than `max_length` {max_length}: nothing is truncated."
    parts = [
        f"{task} {split} {int(row.truncated):,} of {int(row.examples):,} ({percent(row.truncated / row.examples)})"
        for (task, split), row in zip(cut.index, cut.itertuples(index=False))
    ]
    total = int(cut["truncated"].sum())
    text = f"`max_length` {max_length} truncates {total:,} example{'s' if total != 1 else ''}: " + "; ".join(parts) + "."
    cut_tasks = set(cut.index.get_level_values(0))
    pairs = [t for t, mode in pair_modes(pair_encoding).items() if t in cut_tasks] if pair_encoding else []
    cross = [t for t in pairs if pair_modes(pair_encoding)[t] == "cross"]
    bi = [t for t in pairs if pair_modes(pair_encoding)[t] == "bi"]
    if cross:
        text += f" The {_names(cross)} counts are of cross-encoded pairs, as the model reads them."
    if bi:
        text += f" The {_names(bi)} counts are of the pair as one sequence; the model reads these pairs bi-encoded (each sentence alone), so it cuts fewer."
    return text


# ---- 02 and 03 ---------------------------------------------------------------------------------
def stage_summary(stage: str, how: str, folder: Path, results: RunResult) -> str:
    done = {
        "trained": "was trained now",
        "resumed": "was resumed from its saved state and finished",
        "reused": "had finished before: reused",
    }
    scores = ", ".join(f"{TASKS[t].title} {v:.3f}" for t, v in results.dev.items())
    return (
        f"Stage `{stage}` {done[how]} (`{folder}`). Dev scores: {scores}; mean {results.dev_mean:.3f}. "
        "It predicts the dev split only: the test split is predicted once, by the test stage, with the "
        "checkpoint the run reports (`make workbook` runs it after notebook 03)."
    )


def baselines_summary(table: pd.DataFrame) -> str:
    """After `mtlib.workbook.sections.trivial_baselines.compare_with_baselines`: which heads beat the trivial predictor."""
    below = [t for t, row in table.iterrows() if row["model"] <= row["baseline"]]
    if not below:
        return "Every head beats its trivial baseline."
    verb = "does" if len(below) == 1 else "do"
    return f"{_names([TASKS[t].title if t in TASKS else str(t) for t in below])} {verb} not beat the trivial baseline yet."


def stages_summary(per_stage: pd.DataFrame, reported: str) -> str:
    """`mtlib.workbook.sections.history.stage_results` as sentences: how each stage moved the mean."""
    means = per_stage["mean"]
    parts = [f"`{means.index[0]}` ended at a mean dev score of {means.iloc[0]:.3f}"]
    for prev, stage in zip(means.index[:-1], means.index[1:]):
        delta = means[stage] - means[prev]
        parts.append(f"`{stage}` moved it by {delta:+.3f} to {means[stage]:.3f}")
    return "; ".join(parts) + f". The run reports `{reported}`, the stage with the best mean dev score."


def conflicts_summary(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "No gradient cosines were logged (`conflict_every` is 0 in every stage)."
    share = (summary["conflicting"] * summary["updates"]).sum() / summary["updates"].sum()
    text = f"{share:.0%} of the {int(summary['updates'].sum())} logged task-pair cosines are negative (conflicting). "
    top = float(summary["conflicting"].max())
    tied = summary[np.isclose(summary["conflicting"], top)]
    if top == 0:
        return text + "No pair conflicts in any logged update."
    if len(tied) == 1:
        worst = tied.iloc[0]
        return text + (
            f"The most conflicting pair is {worst['pair']} in `{worst['stage']}` ({top:.0%} negative, mean cosine {worst['mean']:.3f})."
        )
    each = ", ".join(f"{row.pair} in `{row.stage}` (mean cosine {row.mean:.3f})" for row in tied.itertuples(index=False))
    who = f"All {len(tied)} logged pairs" if len(tied) == len(summary) else f"{len(tied)} pairs"
    return text + f"{who} tie at {top:.0%} negative: {each}."


def sampling_summary(summary: pd.DataFrame) -> str:
    """`mtlib.workbook.sections.history.sampling_summary` as a sentence: each stage's share of batches per task."""
    if summary.empty:
        return "No training updates were logged."
    parts = []
    for stage, rows in summary.groupby("stage", sort=False):
        shares = ", ".join(f"{t} {a:.0%} (size share {b:.0%})" for t, a, b in zip(rows["task"], rows["share"], rows["size share"]))
        parts.append(f"`{stage}`: {shares}")
    return "Batches drawn per task: " + "; ".join(parts) + "."


# ---- 04 ----------------------------------------------------------------------------------------
def confusion_summary(task: str, matrix: np.ndarray) -> str:
    """What a confusion matrix says: classes never predicted, classes barely recalled, where
    errors go."""
    spec = TASKS[task]
    names = list(spec.class_names)
    support = matrix.sum(1)
    recall = np.divide(np.diag(matrix), support, out=np.zeros(len(names)), where=support > 0)
    predicted = matrix.sum(0)
    total = int(matrix.sum())
    lines = [f"**{spec.title}** ({total:,} dev rows, accuracy {np.trace(matrix) / max(total, 1):.3f})."]
    never = [names[i] for i in range(len(names)) if predicted[i] == 0 and support[i] > 0]
    low = [i for i in range(len(names)) if support[i] > 0 and recall[i] < LOW_RECALL and names[i] not in never]
    if never:
        lines.append(f"The head never predicts {_names(never)}.")
    if low:
        lines.append("Recall is below " + f"{LOW_RECALL:.2f} for " + ", ".join(f"*{names[i]}* ({recall[i]:.2f})" for i in low) + ".")
    used = int((predicted > 0).sum())
    if never or low:
        lines.append(f"The head has collapsed toward {used - len(low)} of its {len(names)} classes.")
    else:
        lo, hi = int(np.argmin(recall)), int(np.argmax(recall))
        lines.append(f"Every class is predicted; recall runs from {recall[lo]:.2f} (*{names[lo]}*) to {recall[hi]:.2f} (*{names[hi]}*).")
    errors = matrix.copy().astype(float)
    np.fill_diagonal(errors, 0)
    if errors.sum() > 0 and len(names) > 2:
        near = sum(errors[i, j] for i in range(len(names)) for j in range(len(names)) if abs(i - j) == 1)
        lines.append(f"{near / errors.sum():.0%} of the errors go to a neighbouring class.")
    if errors.sum() > 0:
        i, j = np.unravel_index(np.argmax(errors / np.maximum(support[:, None], 1)), errors.shape)
        lines.append(f"The largest flow: {errors[i, j] / max(support[i], 1):.0%} of the *{names[i]}* rows go to *{names[j]}*.")
    return " ".join(lines).replace(".*.", ".*")  # class names like "1 neg." end a sentence once


def regression_summary(task: str, residuals: pd.DataFrame, score: float) -> str:
    spec = TASKS[task]
    bias = residuals["bias"].dropna()
    text = f"**{spec.title}**: {spec.metric_name} {score:.3f}."
    if len(bias) >= 2:
        first, last = bias.iloc[0], bias.iloc[-1]
        if first > 0 > last:
            text += (
                f" Predictions are too high in the lowest gold bin ({first:+.2f}) and too low in the highest ({last:+.2f}): "
                "regression toward the mean."
            )
        else:
            text += f" Mean residual {first:+.2f} in the lowest gold bin and {last:+.2f} in the highest."
    return text


def single_task_baseline() -> dict[str, Any] | None:
    path = paths.project_root() / SINGLE_TASK_BASELINE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def scores_summary(scores: pd.DataFrame, encoder: str, full_dev: bool) -> str:
    """The dev scores against the recorded single-task baselines (same packaged encoder, whole
    dev sets), stating where the run is below them."""
    base = single_task_baseline()
    if base is None or encoder != "minilm-l6" or not full_dev:
        return "No recorded single-task baseline applies to this run (it needs the packaged encoder and whole dev sets)."
    parts, below = [], []
    for task, row in scores.iterrows():
        ref = base["dev"].get(task)
        if ref is None:
            continue
        delta = row["score"] - ref
        parts.append(f"{TASKS[task].title} {row['score']:.3f} against {ref:.3f} ({delta:+.3f})")
        if delta < 0:
            below.append(TASKS[task].title)
    verdict = f" Below the baseline on {_names(below)}." if below else " At or above the baseline on every task."
    return "Against single-task fine-tuning of the same encoder (`" + SINGLE_TASK_BASELINE + "`): " + "; ".join(parts) + "." + verdict
