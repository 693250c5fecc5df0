"""Numeric settings outside their range stop at config validation with one line naming the
range, before any data is read or any model built (issue 26: each of these ended in a traceback
with the real task files)."""

from __future__ import annotations

import numpy as np
import pytest

from mtlib.__main__ import main
from mtlib.config.config import _FIELDS
from mtlib.config.sections import SCHEDULE_WEIGHT
from mtlib.train.task_schedulers import make_scheduler


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--use_pal", "--pal_size", "1000000000"], "--pal_size must be in [1, 4096] (got 1000000000)"),
        (["--threads", "100000"], "--threads must be in [0, 256] (got 100000)"),
        (
            ["--task_scheduler", "temperature", "--sampling_temperature", "1e-300"],
            "--sampling_temperature must be in [0.1, 1000] (got 1e-300)",
        ),
        (
            ["--task_scheduler", "weighted", "--schedule_weights", "sst=1e308,para=1e308,sts=1e308"],
            "--schedule_weights: each must be in [0, 1e+06] (got sst=1e+308, para=1e+308, sts=1e+308)",
        ),
    ],
)
def test_values_out_of_range_give_one_line_with_the_range_and_exit_2(flags, message, capsys, tmp_path, real_data_dir):
    argv = ["--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--device", "cpu", "--max_train_examples", "8"]
    argv += ["--max_eval_examples", "8", "--epochs", "1", "--no-progress", "--save_path", str(tmp_path / "run"), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtlib: error: invalid configuration: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err
    assert not (tmp_path / "run").exists()


def test_the_ends_of_the_sampling_ranges_give_finite_probabilities():
    # the largest task file (quora-train, 283k rows) at the lowest temperature and the largest weights
    sizes = {"sst": 8544, "para": 283003, "sts": 6040}
    low_t = make_scheduler("temperature", list(sizes), sizes, 0, 1, temperature=_FIELDS["sampling_temperature"].metadata["range"].low)
    high_w = make_scheduler("weighted", list(sizes), sizes, 0, 1, weights=dict.fromkeys(sizes, SCHEDULE_WEIGHT.high))
    for scheduler in (low_t, high_w):
        p = scheduler.probabilities()
        assert np.all(np.isfinite(p)) and p.sum() == pytest.approx(1.0)
        assert scheduler.next_task() in sizes
