"""What a task head's output means in torch: its loss, its score, its hard and soft predictions.

The task facts (`mtlib.config.tasks.TaskSpec`: label kind, head width, label range) are the
config's, without torch; the functions here read them, one branch per label kind (class,
binary, score), never per task, so a fourth task of a known kind needs no line here.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..config.tasks import TaskSpec


def task_loss(
    spec: TaskSpec, output: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss of a batch.

    SST: cross-entropy over 5 logits. Para: BCE with logits on 1 logit. STS: mean squared
    error on the 0..5 scale. MSE (rather than a cosine/Pearson loss) because the metric is
    Pearson on the raw score and the head predicts the score itself; MSE is the proper
    scoring rule for a conditional mean and is stable at small batch sizes, where a batch
    Pearson loss is noisy. `label_smoothing` and `class_weights` (see `class_weights_of`) apply
    to the multi-class cross-entropy only.
    """
    output = output.float()
    if spec.label_kind == "class":
        return F.cross_entropy(output, labels.long(), weight=class_weights, label_smoothing=label_smoothing)
    if spec.label_kind == "binary":
        return F.binary_cross_entropy_with_logits(output.squeeze(-1), labels.float())
    return F.mse_loss(score(spec, output), labels.float())


def class_weights_of(spec: TaskSpec, labels: np.ndarray) -> torch.Tensor | None:
    """Inverse-frequency weights of the classes in `labels` (mean 1 over the rows), for a
    class-balanced cross-entropy; None for tasks that are not multi-class."""
    if spec.label_kind != "class":
        return None
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=spec.num_outputs).astype(float)
    weights = len(labels) / (spec.num_outputs * np.maximum(counts, 1.0))
    return torch.as_tensor(weights, dtype=torch.float32)


def score(spec: TaskSpec, output: torch.Tensor) -> torch.Tensor:
    """Map the head's raw output to the prediction scale (STS: a squashed 0..5 score)."""
    if spec.label_kind == "score":
        low, high = spec.label_range
        return low + (high - low) * output.float().squeeze(-1).sigmoid()
    return output


def predict(spec: TaskSpec, output: torch.Tensor) -> torch.Tensor:
    """Hard predictions: a class id, 0/1, or the 0..5 score."""
    if spec.label_kind == "class":
        return output.argmax(-1)
    if spec.label_kind == "binary":
        return (output.squeeze(-1) > 0).long()
    return score(spec, output)


def soft_output(spec: TaskSpec, output: torch.Tensor) -> torch.Tensor:
    """Class probabilities, P(yes) of a binary task, or the predicted score of a score task."""
    if spec.label_kind == "class":
        return output.float().softmax(-1)
    if spec.label_kind == "binary":
        return output.float().squeeze(-1).sigmoid()
    return score(spec, output)
