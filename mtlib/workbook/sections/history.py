"""What stage runs recorded in their `metrics.jsonl`, as tables for notebooks 02 and 03.

A workbook trains in stages, each in its own run folder whose update steps restart at 1.
`Stages` maps stage names to run folders in training order; every table carries the stage and a
`global_step` that continues across stages, so the curves of several stages share one x axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...store import metrics_file
from ...store.metrics_file import Conflict, Dev, PhaseStart, Train
from ...store.results_file import RunResult

Stages = Mapping[str, str | Path]  # stage name -> run folder, in training order


def stage_records(stages: Stages, kind: type | None = None) -> list[dict[str, Any]]:
    """Every metrics record (of type `kind`, a `mtlib.store.metrics_file` record, or all) of every
    stage, as its fields with `stage` and `global_step` added."""
    out: list[dict[str, Any]] = []
    offset = 0
    for stage, folder in stages.items():
        records = metrics_file.read(folder)
        last = max((r.step for r in records), default=0)
        out += [
            {**metrics_file.as_dict(r), "stage": stage, "global_step": r.step + offset}
            for r in records
            if kind is None or isinstance(r, kind)
        ]
        offset += last
    return out


def stage_spans(stages: Stages) -> pd.DataFrame:
    """First and last global update step of each stage (for shading stage boundaries)."""
    records = stage_records(stages, Train)
    frame = pd.DataFrame(records, columns=["stage", "global_step"])
    spans = frame.groupby("stage", sort=False)["global_step"].agg(start="min", end="max").reset_index()
    return spans


def stage_progress(rows: pd.DataFrame, losses: pd.DataFrame, spans: pd.DataFrame, at_end: bool = False) -> pd.Series:
    """Where each of `rows` (stage, task, global_step) sits on an axis that gives every stage the
    same width, whatever its number of updates: stage i spans [i, i + 1], and inside it the task's
    own training updates of that stage (`losses`) in order, each a slot of equal width. A training
    update sits at its slot's centre; with `at_end` (a dev pass) a row sits at the end of the last
    of the task's updates before it. In a stage where the task trained no update: the stage's
    share of its update steps (`spans`) done by then."""
    order = {stage: i for i, stage in enumerate(spans["stage"])}
    bounds = spans.set_index("stage")
    own = {key: np.sort(part["global_step"].to_numpy()) for key, part in losses.groupby(["stage", "task"], sort=False)}
    out = []
    for stage, task, step in zip(rows["stage"], rows["task"], rows["global_step"]):
        steps = own.get((stage, task), np.empty(0))
        if len(steps):
            done = int(np.searchsorted(steps, step, side="right"))
            share = done / len(steps) if at_end else (done - 0.5) / len(steps)
        else:
            start, end = bounds.loc[stage, "start"], bounds.loc[stage, "end"]
            share = (step - start + (1 if at_end else 0.5)) / (end - start + 1)
        out.append(order[stage] + min(max(share, 0.0), 1.0))
    return pd.Series(out, index=rows.index, dtype=float)


def _per_task(stages: Stages, kind: type, field: str, value: str, keep: list[str], columns: list[str]) -> pd.DataFrame:
    """Explode records of `kind` into one row per task of their `field` mapping."""
    rows = [{**{k: r[k] for k in keep}, "task": task, value: v} for r in stage_records(stages, kind) for task, v in r[field].items()]
    return pd.DataFrame(rows, columns=columns)


def train_losses(stages: Stages) -> pd.DataFrame:
    """One row per (update, task): the task's mean training loss in that update, and the lr."""
    keep = ["stage", "step", "global_step", "epoch", "lr"]
    return _per_task(stages, Train, "loss", "loss", keep, ["stage", "step", "global_step", "epoch", "task", "loss", "lr"])


def dev_scores(stages: Stages) -> pd.DataFrame:
    """One row per (end of epoch, task): the dev score, and whether it was the best so far."""
    keep = ["stage", "phase", "epoch", "global_step", "best"]
    return _per_task(stages, Dev, "dev", "score", keep, ["stage", "phase", "epoch", "global_step", "task", "score", "best"])


def task_sampling(stages: Stages) -> pd.DataFrame:
    """One row per (update, task): how many of the update's batches came from the task."""
    return _per_task(stages, Train, "tasks", "batches", ["stage", "global_step"], ["stage", "global_step", "task", "batches"])


def sampling_summary(stages: Stages) -> pd.DataFrame:
    """Per stage and task: batches drawn, their share, and the share that sampling in
    proportion to training-set size would give (from the stage's `phase` records)."""
    drawn = task_sampling(stages).groupby(["stage", "task"], sort=False)["batches"].sum().reset_index()
    drawn["share"] = drawn["batches"] / drawn.groupby("stage")["batches"].transform("sum")
    sizes: dict[str, dict[str, int]] = {}
    for r in stage_records(stages, PhaseStart):
        sizes.setdefault(r["stage"], {}).update(r["sizes"])
    drawn["size share"] = [
        sizes.get(s, {}).get(t, 0) / max(sum(sizes.get(s, {}).values()), 1) for s, t in zip(drawn["stage"], drawn["task"])
    ]
    return drawn


def conflicts(stages: Stages) -> pd.DataFrame:
    """One row per (monitored update, task pair): the cosine between the two tasks' gradients
    on the shared encoder (negative: the tasks pull the encoder in conflicting directions)."""
    rows = [
        {"stage": r["stage"], "global_step": r["global_step"], "pair": pair, "cosine": value}
        for r in stage_records(stages, Conflict)
        for pair, value in r["cosine"].items()
    ]
    return pd.DataFrame(rows, columns=["stage", "global_step", "pair", "cosine"])


def conflict_summary(stages: Stages) -> pd.DataFrame:
    """Per stage and pair: monitored updates, mean cosine, and the share that conflict (< 0)."""
    frame = conflicts(stages)
    grouped = frame.groupby(["stage", "pair"], sort=False)["cosine"]
    return grouped.agg(updates="size", mean="mean", conflicting=lambda c: float((c < 0).mean())).reset_index()


def stage_results(stages: Stages) -> pd.DataFrame:
    """Per stage: the final dev score of each task, their mean, and the stage's wall time
    (from each run folder's `results.json`)."""
    rows = []
    for stage, folder in stages.items():
        results = RunResult.read(folder)
        rows.append({"stage": stage, **results.dev, "mean": results.dev_mean, "wall seconds": results.wall_seconds})
    return pd.DataFrame(rows).set_index("stage")
