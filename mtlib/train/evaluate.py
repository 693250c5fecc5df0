"""Scoring: model outputs on a split, metrics, confidence intervals, prediction files.

`predict_split` runs the model over a tokenized split (inference mode, batches sorted by
length, the largest batch that `--eval_batch_size` allows) and returns a `Predictions` table; given
a `progress` label it shows the rows done (`mtlib.util.progress.Progress`).
Metrics are the pure functions of `mtlib.config.tasks`; `bootstrap_ci` adds a 95% interval.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from ..config.tasks import TASKS, TaskSpec
from ..data.batching import Encoded, sorted_batches
from ..model.amp import Precision
from ..model.task_outputs import predict, soft_output
from ..util.errors import TrainingError
from ..util.files import atomic_write_text
from ..util.progress import Progress
from . import distributed as dist


@dataclass
class Predictions:
    task: str
    split: str
    ids: list[str]
    texts: list[tuple[str, ...]]
    predictions: np.ndarray  # class id, 0/1 or 0..5 score
    soft_outputs: np.ndarray  # per row: class probabilities, P(yes) of a binary task, or the predicted score
    labels: np.ndarray | None

    @property
    def spec(self) -> TaskSpec:
        return TASKS[self.task]

    def score(self) -> float:
        if self.labels is None:
            return float("nan")
        return self.spec.metric(self.predictions, self.labels)


@torch.inference_mode()
def predict_split(
    model: torch.nn.Module, encoded: Encoded, precision: Precision, batch_size: int, pad_id: int = 0,
    progress: str = "", leave: bool = False, file: TextIO | None = None,
) -> Predictions:  # fmt: skip
    """The model's outputs on every row of `encoded`. `progress`: the bar's label (none when
    empty; only rank 0 shows its share of the rows); `leave`, `file`: as `Progress`'s."""
    spec = TASKS[encoded.examples.task]
    was_training = model.training
    model.eval()
    n = len(encoded)
    preds = np.zeros(n, dtype=np.float64)
    probs = np.zeros((n, spec.num_outputs) if spec.label_kind == "class" else n, dtype=np.float64)
    batches = sorted_batches(encoded.lengths, batch_size)[dist.rank() :: dist.world_size()]  # sharded, then gathered
    outputs = []  # kept on the device: one copy to the host at the end, not a sync per batch
    rows = sum(len(b) for b in batches)
    shown = Progress(progress, rows, enabled=bool(progress and rows) and dist.rank() == 0, leave=leave, file=file)
    for index in batches:
        batch = precision.batch(encoded, index, pad_id)
        with precision.autocast():
            output = model(spec.name, **batch)
        outputs.append((predict(spec, output).float(), soft_output(spec, output).float()))
        shown.update(len(index))
    shown.close()
    if batches:
        order = np.concatenate(batches)
        preds[order] = torch.cat([p for p, _ in outputs]).cpu().numpy()
        probs[order] = torch.cat([q for _, q in outputs]).cpu().numpy()
    preds, probs = dist.gather_rows(preds), dist.gather_rows(probs)
    model.train(was_training)
    ex = encoded.examples
    return Predictions(spec.name, ex.split, ex.ids, ex.texts, preds, probs, ex.labels)


def bootstrap_ci(pred: Predictions, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the split's metric (resampling examples)."""
    if pred.labels is None or len(pred.labels) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    n = len(pred.labels)
    stats = np.empty(resamples)
    for i in range(resamples):
        idx = rng.integers(0, n, n)
        stats[i] = pred.spec.metric(pred.predictions[idx], pred.labels[idx])
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(low), float(high)


def confusion(pred: Predictions) -> np.ndarray | None:
    spec = pred.spec
    if not spec.is_classification or pred.labels is None:
        return None
    from sklearn.metrics import confusion_matrix  # here: sklearn takes seconds to import, and predicting needs none of it

    classes = list(range(spec.num_outputs if spec.label_kind == "class" else 2))
    return confusion_matrix(pred.labels.astype(int), pred.predictions.astype(int), labels=classes)


def summary(scores: dict[str, float]) -> float:
    """The mean over every task, or NaN when any score is not finite (never a mean of the rest)."""
    values = list(scores.values())
    if not values or not all(np.isfinite(v) for v in values):
        return float("nan")
    return float(np.mean(values))


def refuse_non_finite(model: torch.nn.Module, where: str, scores: dict[str, float]) -> None:
    """A diverged model is never "best": a non-finite dev score or weight ends the run (`where`: the epoch)."""
    bad = [t for t, v in scores.items() if not np.isfinite(v)]
    weights = [n for n, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad or weights:
        what = (
            f"dev score of {', '.join(bad)} is not finite" if bad else f"{len(weights)} weight tensor(s) are not finite ({weights[0]}, ...)"
        )
        raise TrainingError(
            f"{where}: the model diverged: {what}. Nothing of this epoch was kept as best; lower --lr, try --amp off, or check the data"
        )


# ---- prediction files ------------------------------------------------------------------------
def _clean_id(value: str) -> str:
    """Ids go into a whitespace/comma-delimited format: escape anything that would break a row."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r").replace(",", "\\,")


def cs224n_text(pred: Predictions) -> str:
    """The starter code's format: `id \\t Predicted_X ` header, `id , value ` rows."""
    spec = pred.spec
    lines = [f"id \t {spec.prediction_header} \n"]
    for example_id, value in zip(pred.ids, pred.predictions):
        shown = f"{value:.4f}" if spec.label_kind == "score" else str(int(value))
        lines.append(f"{_clean_id(example_id)} , {shown} \n")
    return "".join(lines)


def rich_tsv(pred: Predictions) -> str:
    """Every example with its text, gold label, prediction and probabilities, CSV-quoted so
    sentences holding tabs, quotes or newlines survive."""
    spec = pred.spec
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    prob_cols = [f"p{i}" for i in range(spec.num_outputs)] if spec.label_kind == "class" else ["probability"]
    writer.writerow(["id", *spec.text_columns, "label", "prediction", *prob_cols])
    for i, example_id in enumerate(pred.ids):
        label = "" if pred.labels is None else f"{pred.labels[i]:g}"
        probs = pred.soft_outputs[i]
        prob_values = [f"{p:.5f}" for p in np.atleast_1d(probs)]
        writer.writerow([example_id, *pred.texts[i], label, f"{pred.predictions[i]:g}", *prob_values])
    return buffer.getvalue()


def write_predictions(folder: Path, pred: Predictions) -> Path:
    spec = pred.spec
    path = folder / f"{spec.prediction_prefix}-{pred.split}-output.csv"
    atomic_write_text(path, cs224n_text(pred))
    atomic_write_text(folder / f"{spec.name}-{pred.split}-detailed.tsv", rich_tsv(pred))
    return path


def read_detailed(path: str | Path) -> Any:
    import pandas as pd

    return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_MINIMAL, keep_default_na=False, dtype={"id": str})
