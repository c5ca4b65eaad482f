"""The statistics behind farm compare and farm history: real scipy, real ruptures."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.nights.changepoints import StepRule, find_steps, noise_sigma
from analysis.nights.hotshift import hot_shifts
from analysis.nights.stats import compare_samples

RNG = np.random.default_rng(7)


def noisy(level: float, n: int, rel: float = 0.02) -> list[float]:
    return list(level * np.exp(RNG.normal(0, rel, n)))


def test_a_clear_slowdown_is_slower_and_significant():
    c = compare_samples(noisy(0.010, 5), noisy(0.015, 5))
    assert c.slower and c.significant and not c.faster
    assert 1.4 < c.ratio < 1.6
    assert c.ci_low < c.ratio < c.ci_high and c.ci_low > 1.3
    assert c.p_value < 1e-3


def test_the_same_distribution_is_not_flagged():
    flagged = sum(compare_samples(noisy(0.01, 5), noisy(0.01, 5)).slower for _ in range(50))
    assert flagged == 0


def test_a_small_but_significant_change_is_not_a_regression():
    c = compare_samples(noisy(0.010, 7, 0.005), noisy(0.0105, 7, 0.005), threshold=0.10)
    assert c.significant and not c.slower  # 5 %: significant, below the 10 % threshold


def test_a_big_noisy_change_needs_significance():
    c = compare_samples([0.01, 0.03, 0.012], [0.02, 0.011, 0.035])
    assert c.ratio > 1.1 and not c.significant and not c.slower


def test_one_sample_a_side_is_compared_but_never_significant():
    c = compare_samples([0.01], [0.02])
    assert c.ratio == pytest.approx(2.0) and c.p_value is None and not c.slower
    assert "at least 2 a side" in c.note
    assert compare_samples([], [0.1]) is None


def test_improvements_are_faster():
    c = compare_samples(noisy(0.02, 5), noisy(0.01, 5))
    assert c.faster and not c.slower


def step_series(n_before: int, n_after: int, before: float, after: float, rel: float = 0.02):
    return noisy(before, n_before, rel) + noisy(after, n_after, rel)


def test_a_step_in_the_middle_of_12_nights_is_found_at_its_night():
    steps = find_steps(step_series(6, 6, 1.0, 1.5), StepRule(min_rel=0.1, floor_rel=0.01))
    assert [s.index for s in steps] == [6]
    assert steps[0].rel_step == pytest.approx(0.5, abs=0.06)
    assert steps[0].p_value < 0.01


def test_a_flat_noisy_series_has_no_change_point():
    for _ in range(20):
        assert find_steps(noisy(1.0, 30, 0.05), StepRule(min_rel=0.1, floor_rel=0.01)) == []


def test_steps_below_the_rule_are_not_reported():
    x = step_series(10, 10, 1.0, 1.04, 0.002)
    assert find_steps(x, StepRule(min_rel=0.10)) == []
    assert [s.index for s in find_steps(x, StepRule(min_rel=0.01))] == [10]


def test_two_steps_and_missing_nights():
    x = step_series(8, 8, 1.0, 1.3) + noisy(0.9, 8)
    x[3] = float("nan")
    steps = find_steps(x, StepRule(min_rel=0.1, floor_rel=0.01))
    assert [s.index for s in steps] == [8, 16]
    assert steps[0].step > 0 > steps[1].step


def test_a_constant_series_with_a_drop_uses_the_floor():
    x = [0.99999] * 6 + [0.9990] * 6
    steps = find_steps(x, StepRule(min_abs=1e-4, floor_abs=1e-6))
    assert [s.index for s in steps] == [6]
    assert noise_sigma(np.array([1.0] * 6), StepRule(floor_abs=1e-6)) == 1e-6


def shares(*rows):
    return [{"grain": g, "key": k, "label": k, "pct": p, "rank": r} for g, k, p, r in rows]


def test_hot_spots_that_grew_or_entered_the_top():
    base = shares(("loop", "a", 50.0, 1), ("loop", "b", 20.0, 2), ("loop", "c", 3.0, 6))
    new = shares(("loop", "a", 44.0, 1), ("loop", "b", 21.0, 2), ("loop", "c", 9.0, 3))
    moves = {h.key: h for h in hot_shifts(base, new)}
    assert set(moves) == {"a", "c"}
    assert moves["a"].delta == pytest.approx(-6.0) and not moves["a"].grew
    assert moves["c"].grew and moves["c"].entered_top
    big = hot_shifts(base, shares(("loop", "a", 60.0, 1), ("loop", "b", 20.0, 2)))
    assert [(h.key, h.grew) for h in big] == [("a", False)]  # in the top already: shown only
    gone = hot_shifts(base, shares(("loop", "a", 50.0, 1)))
    assert [(h.key, h.new_pct) for h in gone] == [("b", 0.0)]
    assert hot_shifts(base, shares(("line", "x:1", 80.0, 1))) == []  # no common grain


def test_a_sub_millisecond_shift_is_under_the_noise_floor():
    # Measured on smoke.toml reruns: 0.66 ms -> 1.19 ms between two identical nights, p < 0.05.
    base, new = [0.00066, 0.00064, 0.00067], [0.00119, 0.00112, 0.00121]
    raw = compare_samples(base, new)
    assert raw.slower and not raw.below_floor  # no floor: a (false) regression
    floored = compare_samples(base, new, min_delta=1e-3)
    assert floored.significant and floored.below_floor and not floored.slower
    assert floored.ratio == pytest.approx(raw.ratio)
    # the same ratio on renders long enough to clear the floor is still a regression
    assert compare_samples([b * 100 for b in base], [n * 100 for n in new], min_delta=1e-3).slower
    # and an improvement under the floor is not one either
    assert not compare_samples(new, base, min_delta=1e-3).faster


def test_a_new_hot_spot_must_grow_by_the_floor_in_time():
    base = shares(("line", "x:1", 80.0, 1), ("line", "x:9", 2.0, 6))
    new = shares(("line", "x:1", 74.0, 1), ("line", "x:9", 7.7, 5))
    tiny = {h.key: h for h in hot_shifts(base, new, render_s=(3e-4, 3e-4), min_delta_s=1e-3)}
    assert tiny["x:9"].entered_top and not tiny["x:9"].grew  # 5.7 points of 0.3 ms: 17 µs
    long = {h.key: h for h in hot_shifts(base, new, render_s=(0.2, 0.2), min_delta_s=1e-3)}
    assert long["x:9"].grew  # 5.7 points of 0.2 s: 11 ms
    unknown = {h.key: h for h in hot_shifts(base, new, render_s=(None, 0.2), min_delta_s=1e-3)}
    assert unknown["x:9"].grew  # no base time: points alone decide


def test_the_command_line_s_floor_is_the_library_s():
    from analysis.nights.compare import MIN_DELTA_S
    from farm.cli.nights import FLOOR_MS

    assert FLOOR_MS / 1e3 == MIN_DELTA_S
