"""text.percent: the one way a fraction is written as a percentage (issue 23.5)."""

from __future__ import annotations

from fractions import Fraction

from retrain_gate.text import percent


def test_a_figure_is_rounded_down_so_a_shortfall_never_reads_as_enough() -> None:
    assert percent(Fraction(19, 200)) == "9.5%"  # the 19 of 200 episodes
    assert percent(19 / 200) == "9.5%"
    assert percent(Fraction(199, 2000)) == "9.9%"  # 9.95%: not "10%" against a 10% need
    assert percent(0.1) == "10%"
    assert percent(0.57) == "57%"  # a float just under 0.57 is not taken for 56.9%
    assert percent(Fraction(2, 3), 0) == "66%"


def test_a_share_held_under_a_maximum_is_rounded_up() -> None:
    assert percent(Fraction(5004, 10000), up=True) == "50.1%"  # over a 50% max: never "50%"
    assert percent(Fraction(1, 2), up=True) == "50%"
    assert percent(Fraction(12, 31), 0, up=True) == "39%"
