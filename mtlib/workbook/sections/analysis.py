"""The tables of notebook 04: a trained run's dev predictions, taken apart.

Everything reads the run's `predictions/<task>-<split>-detailed.tsv` files (written by
`mtlib.run.pipeline.run`), so the analysis needs no model and no data folder: confusion matrices
and per-class precision/recall/F1 (scikit-learn), bootstrap confidence intervals
(`mtlib.train.evaluate.bootstrap_ci`), STS residuals by gold bin, and the most confident errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from ...config.tasks import TASKS
from ...train.evaluate import Predictions, bootstrap_ci, confusion, read_detailed

Frames = dict[str, pd.DataFrame]  # task -> detailed predictions of one split
BINS = 5  # a regression task's gold scores in this many equal bins of its label range


def bin_edges(task: str) -> tuple[float, ...]:
    low, high = TASKS[task].label_range
    return tuple(float(x) for x in np.linspace(low, high, BINS + 1))


def load_predictions(run_dir: str | Path, split: str = "dev", tasks: list[str] | None = None) -> Frames:
    """The detailed prediction table of each task the run wrote for `split`."""
    folder = Path(run_dir) / "predictions"
    names = tasks or [t for t in TASKS if (folder / f"{t}-{split}-detailed.tsv").exists()]
    return {t: read_detailed(folder / f"{t}-{split}-detailed.tsv") for t in names}


def as_predictions(task: str, frame: pd.DataFrame, split: str = "dev") -> Predictions:
    """A detailed prediction table back as the `Predictions` that `mtlib.train.evaluate` scores."""
    spec = TASKS[task]
    prob_cols = [f"p{i}" for i in range(spec.num_outputs)] if spec.label_kind == "class" else ["probability"]
    probs = frame[prob_cols].to_numpy(float)
    labels = pd.to_numeric(frame["label"], errors="coerce").to_numpy(float)
    return Predictions(
        task=task,
        split=split,
        ids=frame["id"].tolist(),
        texts=list(frame[list(spec.text_columns)].itertuples(index=False, name=None)),
        predictions=frame["prediction"].to_numpy(float),
        soft_outputs=probs if spec.label_kind == "class" else probs[:, 0],
        labels=None if np.isnan(labels).all() else labels,
    )


def scores_with_ci(frames: Frames, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per task: the dev score and its percentile-bootstrap 95% interval."""
    rows = []
    for task, frame in frames.items():
        pred = as_predictions(task, frame)
        low, high = bootstrap_ci(pred, resamples=resamples, seed=seed)
        rows.append(
            {"task": task, "metric": pred.spec.metric_name, "examples": len(frame), "score": pred.score(), "ci low": low, "ci high": high}
        )
    return pd.DataFrame(rows).set_index("task")


def confusion_matrix_of(task: str, frame: pd.DataFrame) -> np.ndarray:
    """Rows: gold class, columns: predicted class (all classes, even unpredicted ones)."""
    matrix = confusion(as_predictions(task, frame))
    if matrix is None:
        raise ValueError(f"{task} is not a labelled classification task")
    return matrix


def per_class_report(frames: Frames) -> pd.DataFrame:
    """Precision, recall, F1 and support per class of each classification task."""
    rows = []
    for task, frame in frames.items():
        if not TASKS[task].is_classification:
            continue
        names = list(TASKS[task].class_names)
        gold, pred = frame["label"].astype(float).astype(int), frame["prediction"].astype(float).astype(int)
        p, r, f, n = precision_recall_fscore_support(gold, pred, labels=list(range(len(names))), zero_division=0)
        rows += [
            {"task": task, "class": name, "precision": p[i], "recall": r[i], "f1": f[i], "support": int(n[i])}
            for i, name in enumerate(names)
        ]
    return pd.DataFrame(rows)


def gold_bins(gold: pd.Series, edges: tuple[float, ...]) -> pd.Series:
    """Each gold score's bin, labelled "0-1", "1-2", ... (the first bin includes its left edge)."""
    labels = [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:])]
    return pd.cut(gold, list(edges), labels=labels, include_lowest=True)


def residuals_by_bin(frame: pd.DataFrame, edges: tuple[float, ...]) -> pd.DataFrame:
    """A regression task's residuals (prediction - gold) grouped by gold-score bin: bias and spread per bin.

    A regression toward the mean shows as positive bias in low bins and negative in high ones."""
    gold = frame["label"].astype(float)
    residual = frame["prediction"].astype(float) - gold
    table = residual.groupby(gold_bins(gold, edges), observed=False).agg(
        examples="size", bias="mean", mae=lambda r: r.abs().mean(), sd="std"
    )
    table.index = table.index.astype(str).rename("gold bin")
    return table


def confident_errors(task: str, frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The `n` errors the model was surest of.

    SST and para: wrong predictions, ordered by the probability given to the predicted class.
    STS: the largest absolute residuals."""
    spec = TASKS[task]
    text = frame[list(spec.text_columns)]
    gold = frame["label"].astype(float)
    pred = frame["prediction"].astype(float)
    if spec.label_kind == "class":
        probs = frame[[f"p{i}" for i in range(spec.num_outputs)]].to_numpy(float)
        confidence = probs[np.arange(len(frame)), pred.astype(int)]
        gold_prob = probs[np.arange(len(frame)), gold.astype(int)]
        out = text.assign(gold=gold.astype(int), predicted=pred.astype(int), confidence=confidence, **{"p(gold)": gold_prob})
        out = out[out["gold"] != out["predicted"]]
    elif spec.label_kind == "binary":
        p = frame["probability"].astype(float)
        out = text.assign(gold=gold.astype(int), predicted=pred.astype(int), confidence=np.where(pred == 1, p, 1 - p))
        out = out[out["gold"] != out["predicted"]]
    else:
        out = text.assign(gold=gold, predicted=pred, confidence=(pred - gold).abs())
        out = out.rename(columns={"confidence": "abs. error"})
        return out.sort_values("abs. error", ascending=False).head(n).reset_index(drop=True)
    return out.sort_values("confidence", ascending=False).head(n).reset_index(drop=True)
