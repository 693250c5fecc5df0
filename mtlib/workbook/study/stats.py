"""The study's statistics: each comparison of two Table 2 rows paired by seed, with a verdict a
reviewer accepts.

A seed fixes, for every row, the data order, the initialisation of what is new and the dev rows
scored, so two rows run with one seed form a pair, and the unit of evidence is the per-seed
difference d_s = score(row, s) - score(against, s). For n paired seeds:

- Δ is the mean of d_s, with a Student t interval on n - 1 degrees of freedom (`scipy.stats.t`);
- the two-sided paired t-test gives p (`scipy.stats.ttest_rel`), and Holm's step-down correction
  over every comparison of the study gives p_Holm (`holm`);
- equivalence within ±m is two one-sided t-tests (TOST) at α, also Holm-corrected: both
  H0: Δ <= -m and H0: Δ >= +m rejected. The margin m is fixed up front (`MARGIN`) and printed;
- the detectable difference is the smallest |Δ| a two-sided paired t-test at α = 0.05 finds with
  power 0.8 given the measured sd of d_s and n (exact, by the noncentral t distribution), and the
  seeds needed are the smallest n that finds `TARGET` (0.01) with that power.

Verdicts, against the report's claim (`expected`: +1 higher, -1 lower, 0 "no real change"):
**holds** (p_Holm < α with the report's sign, or for a no-change claim: equivalent), **reversed**
(p_Holm < α with the other sign, or for a no-change claim: a difference), **equivalent within ±m**
(a claimed gain or loss that is absent: equivalence shown), and **inconclusive** (neither).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace

ALPHA = 0.05
POWER = 0.8
MARGIN = 0.01  # the equivalence margin on the mean dev score, fixed before any record was read
TARGET = 0.01  # the difference whose seeds-needed each comparison states
MAX_SEEDS = 10_000

HOLDS, REVERSED, EQUIVALENT, INCONCLUSIVE, NOT_RUN, MIXED = (
    "holds",
    "reversed",
    f"equivalent within ±{MARGIN:g}",
    "inconclusive",
    "not run",
    "mixed",
)


@dataclass(frozen=True)
class Paired:
    """One comparison of `row` against `against` over the seeds both ran."""

    row: str
    against: str
    expected: int  # the report's claim: +1 higher, -1 lower, 0 no real change
    seeds: tuple[int, ...]
    diffs: tuple[float, ...]  # per seed, row - against
    mean: float
    sd: float  # sample sd of the per-seed differences (nan with one seed)
    ci: tuple[float, float]  # 95% t interval of the mean difference (nan with one seed)
    p: float  # two-sided paired t-test
    p_equivalent: float  # TOST: the larger of the two one-sided p values
    detectable: float  # smallest |Δ| detectable (α 0.05 two-sided, power 0.8); nan without a spread
    seeds_for_target: int | None  # seeds needed to detect TARGET; None when not estimable
    p_holm: float = math.nan
    p_equivalent_holm: float = math.nan

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def verdict(self) -> str:
        return verdict_of(self.mean, self.p_holm, self.p_equivalent_holm, self.expected)


def verdict_of(mean: float, p_holm: float, p_equivalent_holm: float, expected: int) -> str:
    """The verdict on one comparison from its Holm-corrected p values (see the module's text)."""
    differs = p_holm < ALPHA
    equivalent = p_equivalent_holm < ALPHA
    if expected == 0:
        return HOLDS if equivalent else REVERSED if differs else INCONCLUSIVE
    if differs:
        return HOLDS if mean * expected > 0 else REVERSED
    return EQUIVALENT if equivalent else INCONCLUSIVE


def _power(delta: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """The power of a two-sided paired t-test with n pairs to find a true mean difference delta."""
    from scipy import stats

    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = abs(delta) * math.sqrt(n) / sd
    power = float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
    if not math.isfinite(power):  # the noncentral t's series fails far in its tail (few seeds, large nc)
        power = float(stats.norm.cdf(nc - crit) + stats.norm.cdf(-nc - crit))
    return power


def detectable_difference(sd: float, n: int) -> float:
    """The smallest |Δ| found with power POWER by n paired seeds whose differences have sd `sd`."""
    from scipy.optimize import brentq

    if n < 2 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    high = sd
    while _power(high, sd, n) < POWER:
        high *= 2
    return float(brentq(lambda d: _power(d, sd, n) - POWER, 0.0, high, xtol=1e-6))


def seeds_needed(sd: float, delta: float = TARGET) -> int | None:
    """The fewest paired seeds that find `delta` with power POWER when differences have sd `sd`."""
    if not math.isfinite(sd):
        return None
    if sd == 0:
        return 2
    low, high = 2, 2
    while _power(delta, sd, high) < POWER:
        if high >= MAX_SEEDS:
            return None
        low, high = high, min(high * 2, MAX_SEEDS)
    while low < high:  # the smallest n in (low, high] with enough power
        mid = (low + high) // 2
        if _power(delta, sd, mid) >= POWER:
            high = mid
        else:
            low = mid + 1
    return high


def paired(row: str, against: str, expected: int, a: dict[int, float], b: dict[int, float]) -> Paired:
    """The comparison of `row` (scores by seed `a`) against `against` (`b`) over their common seeds."""
    from scipy import stats

    seeds = tuple(sorted(set(a) & set(b)))
    diffs = tuple(a[s] - b[s] for s in seeds)
    n = len(diffs)
    mean = sum(diffs) / n if n else math.nan
    nan2 = (math.nan, math.nan)
    if n < 2:
        return Paired(row, against, expected, seeds, diffs, mean, math.nan, nan2, math.nan, math.nan, math.nan, None)
    sd = statistics.stdev(diffs)
    if sd <= 1e-9:  # equal differences up to rounding (identical rows): no spread to test
        p = 1.0 if abs(mean) <= 1e-9 else 0.0
        p_eq = 0.0 if abs(mean) < MARGIN else 1.0
        return Paired(row, against, expected, seeds, diffs, mean, 0.0, (mean, mean), p, p_eq, 0.0, 2)
    se = sd / math.sqrt(n)
    half = stats.t.ppf(1 - ALPHA / 2, n - 1) * se
    p = float(stats.ttest_rel(tuple(a[s] for s in seeds), tuple(b[s] for s in seeds)).pvalue)
    p_low = float(stats.t.sf((mean + MARGIN) / se, n - 1))  # H0: Δ <= -m
    p_high = float(stats.t.cdf((mean - MARGIN) / se, n - 1))  # H0: Δ >= +m
    return Paired(
        row, against, expected, seeds, diffs, mean, sd, (mean - half, mean + half), p, max(p_low, p_high),
        detectable_difference(sd, n), seeds_needed(sd),
    )  # fmt: skip


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p values (monotone, capped at 1); nan stays nan and is not counted."""
    order = sorted((p, i) for i, p in enumerate(p_values) if math.isfinite(p))
    m = len(order)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for k, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - k) * p))
        adjusted[i] = running
    return adjusted


def corrected(comparisons: list[Paired]) -> list[Paired]:
    """`comparisons` with Holm's correction applied over all of them, to the difference tests and
    to the equivalence tests each as one family."""
    p = holm([c.p for c in comparisons])
    q = holm([c.p_equivalent for c in comparisons])
    return [replace(c, p_holm=pi, p_equivalent_holm=qi) for c, pi, qi in zip(comparisons, p, q)]


def finding_verdict(verdicts: list[str]) -> str:
    """A finding's verdict over its comparisons: their common verdict, else "mixed"."""
    measured = [v for v in verdicts if v != NOT_RUN]
    if not measured:
        return NOT_RUN
    common = measured[0] if len(set(measured)) == 1 else MIXED
    return common if len(measured) == len(verdicts) else f"{common} (partly run)"
