"""Trivial predictors to read a dev score against (notebook 02).

The constant a task's baseline predicts is fitted on the training labels only: the majority
class for SST and paraphrase, the mean score for STS (whose Pearson correlation with any
constant is undefined, scored 0 as `mtlib.config.tasks.metric_value` does). The baseline is scored on
exactly the dev rows a run was scored on, read from the run's prediction files, so a capped
smoke run and a full run are each compared like with like.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ...config.tasks import TASKS
from ...data.task_files import DataWarning, load_task, resolve_data_dir
from ...train.evaluate import read_detailed


def constant_prediction(task: str, train_labels: np.ndarray) -> float:
    """The majority class (classification) or the mean score (regression) of the train labels."""
    if TASKS[task].is_classification:
        values, counts = np.unique(train_labels.astype(int), return_counts=True)
        return float(values[np.argmax(counts)])
    return float(np.mean(train_labels))


def train_labels(tasks: list[str], data_dir: str = "") -> dict[str, np.ndarray]:
    """Each task's training labels, read and validated as training reads them."""
    out = {}
    for task in tasks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            splits, _ = load_task(TASKS[task], resolve_data_dir(data_dir), ("train",))
        out[task] = splits["train"].labels
    return out


def dev_labels(run_dir: str | Path, tasks: list[str]) -> dict[str, np.ndarray]:
    """The gold labels of the dev rows a run was scored on (its detailed prediction files)."""
    return {t: read_detailed(Path(run_dir) / "predictions" / f"{t}-dev-detailed.tsv")["label"].to_numpy(float) for t in tasks}


def baseline_table(model_scores: dict[str, float], train: dict[str, np.ndarray], dev: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per task: the model's dev score, the constant baseline's, and the gain over it."""
    rows = []
    for task, score in model_scores.items():
        spec = TASKS[task]
        constant = constant_prediction(task, train[task])
        baseline = spec.metric(np.full(len(dev[task]), constant), dev[task])
        rows.append(
            {
                "task": task,
                "metric": spec.metric_name,
                "model": score,
                "baseline": baseline,
                "gain": score - baseline,
                "baseline predicts": f"{spec.baseline_name}: {constant:.3g}",
                "dev rows": len(dev[task]),
            }
        )
    return pd.DataFrame(rows).set_index("task")


def compare_with_baselines(run_dir: str | Path, model_scores: dict[str, float], data_dir: str = "") -> pd.DataFrame:
    """`baseline_table` for a finished run: its dev scores against its tasks' constant baselines."""
    tasks = list(model_scores)
    return baseline_table(model_scores, train_labels(tasks, data_dir), dev_labels(run_dir, tasks))
