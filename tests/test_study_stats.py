"""The study's statistics on synthetic scores whose answer is known (mtlib.workbook.study.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mtlib.workbook.study import stats as st


def _scores(mean: float, sd: float, seeds: int, rng: np.random.Generator) -> dict[int, float]:
    return {s: float(v) for s, v in enumerate(rng.normal(mean, sd, seeds))}


def _compare(diff: float, sd: float, seeds: int, expected: int, seed: int = 0) -> st.Paired:
    """A row `diff` above its compared row, both sharing a per-seed effect (what pairing removes),
    with per-seed noise of the difference `sd`."""
    rng = np.random.default_rng(seed)
    base = _scores(0.65, 0.03, seeds, rng)  # the seed's own effect, common to both rows
    noise = rng.normal(0, sd, seeds)
    row = {s: base[s] + diff + float(noise[s]) for s in base}
    return st.corrected([st.paired("row", "against", expected, row, base)])[0]


def test_a_true_difference_of_005_with_sd_001_over_10_seeds_holds():
    c = _compare(0.05, 0.01, 10, +1)
    assert c.n == 10 and c.verdict == st.HOLDS
    assert c.ci[0] > 0 and c.ci[0] < 0.05 < c.ci[1]


def test_a_reversed_sign_is_reversed():
    assert _compare(-0.05, 0.01, 10, +1).verdict == st.REVERSED
    assert _compare(0.05, 0.01, 10, -1).verdict == st.REVERSED


def test_two_equal_rows_over_enough_seeds_are_equivalent():
    c = _compare(0.0, 0.005, 30, +1)
    assert c.verdict == st.EQUIVALENT and c.p_equivalent_holm < st.ALPHA
    assert _compare(0.0, 0.005, 30, 0).verdict == st.HOLDS  # a "no real change" claim holds


def test_three_noisy_seeds_are_inconclusive_with_their_detectable_difference():
    c = _compare(0.01, 0.03, 3, +1)
    assert c.verdict == st.INCONCLUSIVE
    assert c.detectable == pytest.approx(st.detectable_difference(c.sd, 3)) and c.detectable > 3 * st.TARGET
    assert c.seeds_for_target is not None and c.seeds_for_target > 3  # three seeds could not see 0.01


def test_the_interval_and_p_are_scipys_paired_t():
    rng = np.random.default_rng(3)
    a, b = _scores(0.7, 0.02, 8, rng), _scores(0.69, 0.02, 8, rng)
    c = st.paired("a", "b", +1, a, b)
    d = [a[s] - b[s] for s in range(8)]
    low, high = stats.t.interval(0.95, 7, loc=np.mean(d), scale=stats.sem(d))
    assert c.ci == pytest.approx((low, high)) and c.p == pytest.approx(stats.ttest_1samp(d, 0).pvalue)


def test_pairs_are_the_common_seeds_only():
    c = st.paired("a", "b", +1, {0: 0.6, 1: 0.7, 2: 0.8}, {1: 0.6, 2: 0.7, 5: 0.1})
    assert c.seeds == (1, 2) and c.diffs == pytest.approx((0.1, 0.1))


def test_one_seed_is_inconclusive_and_claims_no_spread():
    c = st.corrected([st.paired("a", "b", +1, {0: 0.7}, {0: 0.6})])[0]
    assert c.verdict == st.INCONCLUSIVE and math.isnan(c.sd) and c.seeds_for_target is None


def test_identical_rows_are_equivalent_not_an_error():
    same = {s: 0.6 + s / 100 for s in range(5)}
    c = st.corrected([st.paired("a", "b", +1, same, dict(same))])[0]
    assert c.mean == 0 and c.verdict == st.EQUIVALENT


def test_holm_adjusts_step_down_and_keeps_order():
    assert st.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert st.holm([0.5, math.nan])[0] == pytest.approx(0.5) and math.isnan(st.holm([0.5, math.nan])[1])


def test_holm_turns_a_lone_significant_result_into_inconclusive_among_many():
    """p = 0.03 holds alone; among 17 comparisons it does not."""
    c = _compare(0.02, 0.02, 8, +1, seed=11)
    assert st.ALPHA / 17 < c.p < st.ALPHA and c.verdict == st.HOLDS
    many = st.corrected([c, *[_compare(0.0, 0.02, 8, +1, seed=k) for k in range(16)]])
    assert many[0].verdict == st.INCONCLUSIVE


def test_detectable_difference_and_seeds_needed_agree_with_the_power():
    sd = 0.024
    d = st.detectable_difference(sd, 3)
    assert st._power(d, sd, 3) == pytest.approx(st.POWER, abs=1e-4)
    n = st.seeds_needed(sd, 0.01)
    assert st._power(0.01, sd, n) >= st.POWER > st._power(0.01, sd, n - 1)
    assert 45 <= n <= 50  # the hand estimate: about 46 paired seeds for 0.01 at sd 0.024


def test_a_finding_is_the_common_verdict_else_mixed():
    assert st.finding_verdict([st.HOLDS, st.HOLDS]) == st.HOLDS
    assert st.finding_verdict([st.HOLDS, st.INCONCLUSIVE]) == st.MIXED
    assert st.finding_verdict([st.HOLDS, st.NOT_RUN]) == f"{st.HOLDS} (partly run)"
