"""Epoch length, update size and learning rate, counted as the reference project counted them."""

from __future__ import annotations

import pytest
import torch

from mtlib.config.config import Config
from mtlib.train.optimization import COMBINE_BATCHES, batches_per_update, make_lr_schedule, plan_epoch
from mtlib.util.errors import ConfigError

SIZES = {"sst": 267, "para": 508, "sts": 189}  # real batch counts of batch 32 on the CPU data


def cfg(**values) -> Config:
    return Config.from_dict(values).validate()


@pytest.mark.parametrize(
    "settings, k, updates",
    [
        ({}, 1, 964),  # one pass over every task: the sum of their batch counts, one batch per update
        ({"num_batches_per_epoch": 300}, 1, 300),  # reference README line 40: 300 one-batch updates
        ({"num_batches_per_epoch": 1800, "projection": "vaccine"}, 3, 600),  # line 46: one batch of each task per update
        ({"projection": "vaccine"}, 3, 322),  # a pass over every task, in updates of one batch per task
        ({"num_batches_per_epoch": 1600, "projection": "pcgrad", "combine_strategy": "encourage", "task_scheduler": "pal"}, 16, 100),
        ({"num_batches_per_epoch": 25, "projection": "vaccine", "batches_per_update": 6}, 6, 4),  # as the reference's int(25 / 6)
        ({"updates_per_epoch": 25, "projection": "vaccine", "combine_strategy": "encourage", "batches_per_update": 3}, 3, 25),
    ],
)
def test_an_epoch_counts_batches_and_an_update_gathers_them(settings, k, updates):
    plan = plan_epoch(cfg(**settings), SIZES)
    assert (plan.batches_per_update, plan.updates_per_epoch) == (k, updates)
    assert plan.batches_per_epoch == k * updates


def test_one_task_phases_take_one_batch_per_update():
    c = cfg(projection="vaccine", option="individual_pretrain")
    assert batches_per_update(c, 1) == 1 and batches_per_update(c, 3) == 3
    assert batches_per_update(cfg(projection="vaccine", combine_strategy="force"), 3) == COMBINE_BATCHES == 16


def test_the_help_says_what_the_epoch_length_counts():
    from mtlib.config.config import _FIELDS

    def help_of(name):
        return _FIELDS[name].metadata["help"]

    assert "task batches per epoch" in help_of("num_batches_per_epoch") and "every task" in help_of("num_batches_per_epoch")
    assert "largest" not in help_of("num_batches_per_epoch")


def _lrs(name: str, warmup: int, total: int, lr: float = 1e-3) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=lr)
    schedule = make_lr_schedule(optimizer, name, warmup, total)
    out = []
    for _ in range(total):
        out.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    return out


def test_constant_schedule_keeps_the_rate_and_linear_warms_up_then_decays():
    assert _lrs("constant", 0, 5) == [1e-3] * 5
    assert _lrs("constant", 2, 4) == pytest.approx([0.0, 5e-4, 1e-3, 1e-3])
    assert _lrs("linear", 2, 6) == pytest.approx([0.0, 5e-4, 1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert _lrs("linear", 0, 4) == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])


def test_defaults_are_the_references_optimiser():
    train = Config().train
    assert (train.lr_schedule, train.warmup_ratio, train.weight_decay) == ("constant", 0.0, 0.0)


@pytest.mark.parametrize("scheduler", ["pal", "random", "proportional", "temperature"])
def test_a_scheduler_with_a_projection_needs_a_combine_strategy(scheduler):
    with pytest.raises(
        ConfigError, match=rf"--task_scheduler {scheduler} with --projection vaccine needs a combine strategy.*--combine_strategy encourage"
    ):
        cfg(task_scheduler=scheduler, projection="vaccine")
    cfg(task_scheduler=scheduler, projection="vaccine", combine_strategy="encourage")  # accepted
    cfg(task_scheduler=scheduler, projection="vaccine", option="individual_pretrain")  # one task per phase: nothing to miss


def test_round_robin_updates_must_hold_every_task():
    cfg(projection="vaccine")  # one batch of each task per update (the reference's stage 3)
    cfg(projection="vaccine", batches_per_update=6)
    with pytest.raises(ConfigError, match="round-robin updates of 2 batches miss some of the 3 tasks"):
        cfg(projection="vaccine", batches_per_update=2)


def test_epoch_length_is_set_one_way():
    with pytest.raises(ConfigError, match="both set the length of an epoch"):
        cfg(num_batches_per_epoch=10, updates_per_epoch=5)
    with pytest.raises(ConfigError, match="--updates_per_epoch must be 0 or more"):
        cfg(updates_per_epoch=-1)
