"""The default's quality levers: the weighted schedule, class-balanced and label-smoothed
cross-entropy, and a learning rate of its own for the heads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mtlib.config.config import Config
from mtlib.config.tasks import TASKS
from mtlib.model.task_outputs import class_weights_of, task_loss
from mtlib.train.task_schedulers import make_scheduler
from mtlib.util.errors import ConfigError

SIZES = {"sst": 267, "para": 508, "sts": 189}


def test_the_weighted_schedule_draws_each_task_at_its_share():
    s = make_scheduler("weighted", ["sst", "para", "sts"], SIZES, seed=0, epochs=1, weights={"sst": 2})
    assert s.probabilities() == pytest.approx([0.5, 0.25, 0.25])
    draws = [s.next_task() for _ in range(4000)]
    assert draws.count("sst") / 4000 == pytest.approx(0.5, abs=0.03)
    state = s.state_dict()
    again = [s.next_task() for _ in range(20)]
    s.load_state_dict(state)
    assert [s.next_task() for _ in range(20)] == again  # resumable


def test_class_weights_are_inverse_frequencies_with_mean_one_over_rows():
    labels = np.array([0, 1, 1, 1, 2, 2, 3, 4, 4, 4])
    w = class_weights_of(TASKS["sst"], labels).numpy()
    counts = np.bincount(labels, minlength=5)
    assert w == pytest.approx(len(labels) / (5 * counts))
    assert (w[labels]).mean() == pytest.approx(1.0)
    assert class_weights_of(TASKS["sts"], np.array([1.0, 2.0])) is None


def test_the_sst_loss_applies_smoothing_and_class_weights():
    logits = torch.tensor([[2.0, 0.1, 0.0, -1.0, 0.5], [0.0, 3.0, 0.2, 0.1, -0.4]])
    labels = torch.tensor([0, 1])
    weights = torch.tensor([1.0, 3.0, 1.0, 1.0, 1.0])
    got = task_loss(TASKS["sst"], logits, labels, label_smoothing=0.1, class_weights=weights)
    assert got.item() == pytest.approx(F.cross_entropy(logits, labels, weight=weights, label_smoothing=0.1).item())
    assert task_loss(TASKS["sst"], logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item())


def test_the_heads_get_their_own_learning_rate(tiny_cfg):
    from mtlib.model.encoders import load_tokenizer
    from mtlib.run.loading import build_model
    from mtlib.train.optimization import make_optimizer

    cfg = tiny_cfg(lr=1e-4, head_lr=1e-3)
    model, _ = build_model(cfg, load_tokenizer("tiny-random"))
    opt = make_optimizer(cfg, model, ["sst", "sts"])
    heads, shared = opt.param_groups
    assert heads["lr"] == 1e-3 and shared["lr"] == 1e-4
    assert {id(p) for p in heads["params"]} == {id(p) for t in ("sst", "sts") for p in model.task_parameters(t)}
    single = make_optimizer(tiny_cfg(lr=1e-4), model, ["sst"])
    assert len(single.param_groups) == 1 and single.param_groups[0]["lr"] == 1e-4


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"schedule_weights": {"nope": 1.0}}, "--schedule_weights names unknown task"),
        ({"schedule_weights": {"sst": 0.0, "para": 0.0, "sts": 0.0}}, "gives every task weight 0"),
        ({"label_smoothing": 1.0}, "--label_smoothing must be in [0, 1)"),
        ({"head_lr": -1.0}, "--head_lr must be 0"),
    ],
)
def test_bad_lever_settings_are_refused_by_name(setting, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        Config.from_dict(setting).validate()
