"""Issue 36, item 1: a method is one registry row. Adding a task scheduler or a projection is one
new file (its behaviour) plus its registration (`mtlib.config.methods.register`); the config's
choices, its checks, `--help` and the loop then know it, as docs/architecture.md shows."""

from __future__ import annotations

import textwrap

import pytest

from mtlib.config import methods
from mtlib.config.methods import Method
from mtlib.store import metrics_file
from mtlib.store.metrics_file import Train
from mtlib.util.errors import ConfigError

TOY_FILE = '''
"""Two toy methods, in one new file as a new method would be."""
import numpy as np

from mtlib.train.gradients.base import GradientMethod
from mtlib.train.task_schedulers import TaskScheduler

AGGREGATED = []  # what the toy projection saw: (tasks, its scale)


class LastTask(TaskScheduler):
    """Every draw is the last task."""

    def probabilities(self):
        p = np.zeros(len(self.tasks))
        p[-1] = 1.0
        return p


class ScaledSum(GradientMethod):
    """The sum of the task gradients times `scale`."""

    def __init__(self, all_tasks, scale):
        super().__init__(all_tasks)
        self.scale = scale

    def aggregate(self, rows, tasks):
        AGGREGATED.append((list(tasks), self.scale))
        return rows.sum(0) * self.scale
'''


def _needs_two_tasks(cfg, chosen):
    return [] if len(cfg.data.tasks) > 1 else ["--task_scheduler toy_last draws the last of several tasks: give two or more"]


@pytest.fixture
def toy_methods(tmp_path, monkeypatch):
    (tmp_path / "toy_methods.py").write_text(textwrap.dedent(TOY_FILE))
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = (
        Method("task_scheduler", "toy_last", "always the last task", "toy_methods:LastTask", checks=_needs_two_tasks),
        Method("projection", "toy_scaled", "the sum, scaled by --gradvac_beta", "toy_methods:ScaledSum", options={"scale": "gradvac_beta"}),
    )
    for row in rows:
        methods.register(row)
    yield __import__("toy_methods")
    for row in rows:
        methods.REGISTRY[row.kind].pop(row.name)


def test_a_registered_scheduler_and_projection_train(tiny_cfg, toy_methods, tmp_path):
    from mtlib.run.pipeline import run

    settings = dict(task_scheduler="toy_last", projection="toy_scaled", gradvac_beta=0.5, combine_strategy="force")
    cfg = tiny_cfg(**settings, batches_per_update=4, updates_per_epoch=3, max_train_examples=16, save_path=str(tmp_path / "toy"))
    run(cfg)
    updates = [r.tasks for r in metrics_file.of_type(metrics_file.read(cfg.run.save_path), Train)]
    assert updates == [{"sst": 1, "para": 1, "sts": 2}] * 3  # force: one of each, then the toy scheduler's draw
    assert toy_methods.AGGREGATED == [(["sst", "para", "sts"], 0.5)] * 3  # the projection, given its config field


def test_a_registered_method_is_a_choice_with_its_checks_and_help(tiny_cfg, toy_methods, capsys):
    from mtlib.config.command_line import build_parser

    with pytest.raises(ConfigError, match="draws the last of several tasks"):
        tiny_cfg(task_scheduler="toy_last", tasks=["sst"]).validate()
    tiny_cfg(task_scheduler="toy_last").validate()
    help_text = " ".join(build_parser().format_help().split())
    assert "toy_last: always the last task" in help_text and "toy_scaled" in help_text


def test_an_unregistered_name_is_refused_and_named_choices_follow_the_registry(tiny_cfg):
    with pytest.raises(ConfigError, match="toy_last"):
        tiny_cfg(task_scheduler="toy_last").validate()
    from mtlib.config.sections import PROJECTIONS

    assert "vaccine" in PROJECTIONS and "toy_scaled" not in PROJECTIONS
    assert methods.batches_per_update(tiny_cfg(projection="vaccine"), 3) == 3
    assert methods.batches_per_update(tiny_cfg(projection="vaccine", combine_strategy="encourage"), 3) == methods.COMBINE_BATCHES
