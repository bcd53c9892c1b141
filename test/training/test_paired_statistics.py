"""Intervals and paired tests of the evaluation, against known values."""
import math

import numpy as np
import pytest

from grasp_scorer_ros.training.paired_statistics import (compare_paired, mcnemar_exact_p,
                                                         paired_bootstrap_interval, wilson_interval)


def test_wilson_interval_known_values():
    low, high = wilson_interval(81, 263)   # Newcombe (1998), example: 0.2553 .. 0.3662
    assert low == pytest.approx(0.2553, abs=5e-4) and high == pytest.approx(0.3662, abs=5e-4)
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_mcnemar_exact_p():
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(5, 5) == 1.0
    assert mcnemar_exact_p(0, 6) == pytest.approx(2 / 64)           # two-sided binomial, n = 6
    assert mcnemar_exact_p(120, 81) == pytest.approx(mcnemar_exact_p(81, 120))
    assert mcnemar_exact_p(120, 81) < 0.01 < mcnemar_exact_p(12, 8)


def test_paired_bootstrap_interval_and_comparison():
    rng = np.random.default_rng(0)
    a = rng.random(600) < 0.9
    b = a.copy()
    b[rng.choice(600, 40, replace=False)] = False                   # b loses 40 images a had
    low, high = paired_bootstrap_interval(a, b)
    difference = a.mean() - b.mean()
    assert low < difference < high and low > 0
    same = paired_bootstrap_interval(a, a)
    assert same == (0.0, 0.0)
    comparison = compare_paired(a, b, "A", "B")
    assert comparison.only_second == 0 and comparison.only_first == int(np.sum(a & ~b))
    assert comparison.mcnemar_p < 1e-6 and comparison.difference == pytest.approx(difference)
    assert "A - B" in comparison.summary() and "McNemar" in comparison.summary()
    with pytest.raises(ValueError):
        compare_paired(a, b[:10], "A", "B")
