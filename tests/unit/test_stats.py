"""Gini, Mann-Whitney and the exact ceiling against answers worked out by hand or by scipy."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrain_gate.stats import ceil_fraction, gini, mann_whitney_greater

# ---------------------------------------------------------------- ceil_fraction


def test_ceil_fraction_has_no_float_error() -> None:
    # 10% of 30 episodes needs 3 (the example in the semantics).
    assert ceil_fraction(0.10, 30) == 3
    # In floats 0.07 * 100 == 7.000000000000001, whose ceiling is 8; 7% of 100 needs 7.
    assert math.ceil(0.07 * 100) == 8
    assert ceil_fraction(0.07, 100) == 7


@pytest.mark.parametrize(
    ("fraction", "corpus", "needed"),
    [
        (0.10, 31, 4),  # 3.1 -> 4
        (0.10, 500, 50),  # exactly 50
        (0.15, 20, 3),  # 3.0 exactly
        (0.25, 3, 1),  # 0.75 -> 1
        (0.10, 0, 0),
        (1.0, 12, 12),
    ],
)
def test_ceil_fraction_examples(fraction: float, corpus: int, needed: int) -> None:
    assert ceil_fraction(fraction, corpus) == needed


# ---------------------------------------------------------------- gini


def _gini_by_definition(xs: list[int]) -> float:
    n = len(xs)
    if n < 2 or sum(xs) == 0:
        return 0.0
    mean = sum(xs) / n
    return sum(abs(a - b) for a in xs for b in xs) / (2 * n * n * mean)


def test_gini_of_fewer_than_two_counts_is_zero() -> None:
    assert gini([]) == 0.0
    assert gini([7]) == 0.0  # n = 1: nothing to be unequal to


def test_gini_all_zero_is_zero() -> None:
    assert gini([0, 0, 0]) == 0.0


def test_gini_two_tasks_is_at_most_half() -> None:
    # [3, 0]: sum_ij |xi-xj| = 3 + 3 = 6; 2 n² mean = 2·4·1.5 = 12 -> 0.5
    assert gini([3, 0]) == 0.5
    # [9, 1]: 2·8 = 16; 2·4·5 = 40 -> 0.4
    assert gini([9, 1]) == 0.4
    assert gini([2, 2]) == 0.0


def test_gini_three_episodes_over_ten_tasks_is_point_seven() -> None:
    # three 1s and seven 0s: each (1, 0) pair counts twice: 2·3·7 = 42; 2·100·0.3 = 60 -> 0.7
    assert gini([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]) == 0.7


def test_gini_one_two_three() -> None:
    # ordered pairs: |1-2|, |1-3|, |2-3| twice each = 2·(1+2+1) = 8; 2·9·2 = 36 -> 2/9
    assert gini([3, 1, 2]) == pytest.approx(2 / 9, rel=1e-15)


@given(st.lists(st.integers(min_value=0, max_value=50), max_size=30))
def test_gini_matches_the_double_sum_and_its_bound(xs: list[int]) -> None:
    value = gini(xs)
    assert value == pytest.approx(_gini_by_definition(xs), abs=1e-12)
    if xs:
        # with n counts Gini is at most (n-1)/n
        assert value <= (len(xs) - 1) / len(xs) + 1e-12


# ---------------------------------------------------------------- Mann-Whitney
#
# Reference p-values were produced once with scipy 1.17.1:
#   scipy.stats.mannwhitneyu(new, prev, alternative="greater", method="asymptotic").pvalue
# and pasted here as literals, so scipy is not a dependency.


@pytest.mark.parametrize(
    ("new", "prev", "scipy_p"),
    [
        pytest.param(
            [3.1, 4.2, 5.3, 6.4, 7.5], [1.0, 2.5, 3.6, 0.5], 0.01866820796033144, id="no-ties"
        ),
        pytest.param(
            [3, 4, 5, 3, 4, 6, 5, 4, 3, 5],
            [0, 1, 1, 2, 0, 1, 2, 1, 0, 1],
            7.381925187623e-05,
            id="ties-within-sides",
        ),
        pytest.param(
            [2, 3, 3, 4, 4, 4, 5], [1, 2, 2, 3, 3, 4], 0.05198066703955968, id="ties-across-sides"
        ),
        pytest.param([0, 1, 1, 2], [3, 3, 4, 5, 6], 0.9952521064934967, id="new-is-smaller"),
        pytest.param([5] * 10, [4] * 10, 7.968955844033122e-06, id="all-tied-within-each-side"),
        pytest.param([2], [1], 0.5, id="one-each"),
    ],
)
def test_mann_whitney_matches_scipy(new: list[float], prev: list[float], scipy_p: float) -> None:
    assert mann_whitney_greater(new, prev) == pytest.approx(scipy_p, rel=1e-12)


def test_mann_whitney_everything_tied_is_no_evidence() -> None:
    # scipy: the variance is 0, z = -0.5/0 = -inf, p = 1.0
    assert mann_whitney_greater([2, 2, 2], [2, 2]) == 1.0


def test_mann_whitney_is_one_sided() -> None:
    low, high = [0, 1, 1, 2], [3, 3, 4, 5, 6]
    assert mann_whitney_greater(high, low) < 0.05 < mann_whitney_greater(low, high)


def test_mann_whitney_needs_both_sides() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_greater([], [1, 2])
