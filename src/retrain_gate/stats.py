"""Pure math behind the gates: Gini, the one-sided Mann-Whitney U test, exact ceilings.

No numpy or scipy: the numbers involved are tiny (tasks, releases, episodes per release), and
the gates must give the same answer on every machine, so comparisons against config fractions
are done with exact rationals instead of floats.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction


def as_fraction(value: float) -> Fraction:
    """The decimal the user wrote, not the binary float it became (0.1 -> 1/10).

    `repr` of a float is the shortest string that reads back to it, which for a value typed in a
    config file is exactly what was typed.
    """
    return Fraction(repr(value))


def ceil_fraction(fraction: float, corpus: int) -> int:
    """ceil(fraction × corpus) without float error: 0.10 × 30 is 3, not 4."""
    return math.ceil(as_fraction(fraction) * corpus)


def gini_fraction(counts: Sequence[int]) -> Fraction:
    """Exact Gini coefficient: sum_ij |x_i - x_j| / (2 n² mean); 0 when n < 2 or all zero."""
    n = len(counts)
    total = sum(counts)
    if n < 2 or total == 0:
        return Fraction(0)
    # On sorted values the double sum collapses to a single pass: each x_(i) is larger than the
    # i values before it and smaller than the n-1-i after it.
    ordered = sorted(counts)
    pair_sum = 2 * sum((2 * i - n + 1) * x for i, x in enumerate(ordered))
    # 2 n² mean = 2 n total
    return Fraction(pair_sum, 2 * n * total)


def gini(counts: Sequence[int]) -> float:
    """Gini coefficient of `counts` (see `gini_fraction`)."""
    return float(gini_fraction(counts))


def _average_ranks(values: Sequence[float]) -> tuple[dict[float, float], list[int]]:
    """Rank of each distinct value (ties share the mean of their ranks) and the tie group sizes."""
    sizes = Counter(values)
    ranks: dict[float, float] = {}
    below = 0
    for value in sorted(sizes):
        size = sizes[value]
        ranks[value] = below + (size + 1) / 2
        below += size
    return ranks, list(sizes.values())


def mann_whitney_greater(new: Sequence[float], prev: Sequence[float]) -> float:
    """One-sided p-value that `new` tends to be larger than `prev`.

    Normal approximation with tie correction and a 0.5 continuity correction: the same p as
    `scipy.stats.mannwhitneyu(new, prev, alternative="greater", method="asymptotic")`.
    Raises ValueError when either sample is empty (there is nothing to test).
    """
    n1, n2 = len(new), len(prev)
    if n1 == 0 or n2 == 0:
        raise ValueError("the Mann-Whitney test needs at least one value on each side")
    ranks, tie_sizes = _average_ranks([*new, *prev])
    u1 = sum(ranks[x] for x in new) - n1 * (n1 + 1) / 2
    n = n1 + n2
    tie_term = sum(t**3 - t for t in tie_sizes)
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        # Every value is tied: no evidence either way (scipy gets 1.0 from z = -inf).
        return 1.0
    z = (u1 - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return min(1.0, max(0.0, 0.5 * math.erfc(z / math.sqrt(2))))
