"""Each scheduler's empirical task frequencies match its formula; combine strategies."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mtlib.train.task_schedulers import draw_update, make_scheduler

TASKS = ["sst", "para", "sts"]
SIZES = {"sst": 267, "para": 508, "sts": 189}  # real batch counts of batch 32 on the CPU data
DRAWS = 20000
TOL = 0.015  # absolute tolerance on a frequency; 3.5 sigma for p~0.5 over 20,000 draws is 0.0124


def frequencies(scheduler, n=DRAWS):
    counts = Counter(scheduler.next_task() for _ in range(n))
    return np.array([counts[t] / n for t in TASKS])


def expected_power(alpha):
    w = np.array([SIZES[t] for t in TASKS], dtype=float) ** alpha
    return w / w.sum()


def test_round_robin_cycles():
    s = make_scheduler("round_robin", TASKS, SIZES, seed=0, epochs=1)
    assert [s.next_task() for _ in range(7)] == ["sst", "para", "sts", "sst", "para", "sts", "sst"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("random", np.full(3, 1 / 3)),
        ("proportional", expected_power(1.0)),
        ("temperature", expected_power(1 / 2.0)),
    ],
)
def test_frequencies_match_formula(name, expected):
    s = make_scheduler(name, TASKS, SIZES, seed=1, epochs=3, temperature=2.0)
    np.testing.assert_allclose(s.probabilities(), expected, rtol=1e-12)
    np.testing.assert_allclose(frequencies(s), expected, atol=TOL)


def test_pal_anneals_from_proportional_to_near_uniform():
    epochs = 5
    # sizes are the real batch counts even when an epoch is shortened by --num_batches_per_epoch:
    # the scheduler never sees the epoch length
    s = make_scheduler("pal", TASKS, SIZES, seed=2, epochs=epochs)
    s.set_epoch(1)
    assert s.alpha() == 1.0
    np.testing.assert_allclose(frequencies(s), expected_power(1.0), atol=TOL)
    s.set_epoch(epochs)
    assert s.alpha() == pytest.approx(0.2)
    np.testing.assert_allclose(frequencies(s), expected_power(0.2), atol=TOL)
    assert abs(expected_power(1.0)[1] - expected_power(0.2)[1]) > 0.15  # the two ends really differ


def test_pal_over_one_epoch_samples_at_the_annealings_end_as_the_reference():
    # the reference's PalScheduler: alpha = 0.2, and 1 - 0.8 (e - 1) / (E - 1) only when E > 1
    s = make_scheduler("pal", TASKS, SIZES, seed=2, epochs=1)
    assert s.alpha() == pytest.approx(0.2)
    np.testing.assert_allclose(s.probabilities(), expected_power(0.2), rtol=1e-12)


def test_pal_uses_real_batch_counts_in_a_run(tiny_cfg, tmp_path):
    """In a run with --num_batches_per_epoch, the phase logs the real per-task batch counts."""
    from mtlib.run.pipeline import run
    from mtlib.store.metrics_file import PhaseStart
    from mtlib.store.metrics_file import read as read_metrics

    cfg = tiny_cfg(
        task_scheduler="pal",
        num_batches_per_epoch=2,
        epochs=2,
        max_train_examples=0,
        max_length=16,
        save_path=str(tmp_path / "r"),
        tasks="sst,sts",
    )
    cfg.data.max_eval_examples = 8
    run(cfg)
    phase = next(r for r in read_metrics(tmp_path / "r") if isinstance(r, PhaseStart))
    assert phase.sizes == {"sst": 8544 // 8, "sts": 6040 // 8}
    assert phase.updates_per_epoch == 2


def test_schedule_is_reproducible_and_resumable():
    a = make_scheduler("pal", TASKS, SIZES, seed=5, epochs=3)
    b = make_scheduler("pal", TASKS, SIZES, seed=5, epochs=3)
    first = [a.next_task() for _ in range(50)]
    assert first == [b.next_task() for _ in range(50)]
    state = a.state_dict()
    rest = [a.next_task() for _ in range(50)]
    c = make_scheduler("pal", TASKS, SIZES, seed=99, epochs=3)
    c.load_state_dict(state)
    assert [c.next_task() for _ in range(50)] == rest


@pytest.mark.parametrize("strategy", ["force", "encourage"])
@pytest.mark.parametrize("name", ["random", "pal", "proportional"])
def test_combine_strategies_put_every_task_in_each_update(strategy, name):
    s = make_scheduler(name, TASKS, {"sst": 1000, "para": 10, "sts": 1}, seed=3, epochs=2)
    for _ in range(300):
        draws = draw_update(s, 5, strategy)
        assert len(draws) == 5 and set(draws) == set(TASKS)


def test_encourage_keeps_the_scheduler_bias():
    s = make_scheduler("proportional", TASKS, {"sst": 1000, "para": 10, "sts": 1}, seed=4, epochs=1)
    counts = Counter()
    for _ in range(500):
        counts.update(draw_update(s, 8, "encourage"))
    # sst dominates the draws; the others appear once per update (they replace sst draws)
    assert counts["para"] == pytest.approx(500, rel=0.05) and counts["sts"] == 500
    assert counts["sst"] == 8 * 500 - counts["para"] - counts["sts"]


def test_none_strategy_can_leave_tasks_out():
    s = make_scheduler("proportional", TASKS, {"sst": 1000, "para": 10, "sts": 1}, seed=4, epochs=1)
    assert any(set(draw_update(s, 3, "none")) != set(TASKS) for _ in range(50))
