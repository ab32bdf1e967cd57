"""text.percent: the one way a fraction is written as a percentage (issue 23.5)."""

from __future__ import annotations

from fractions import Fraction

from retrain_gate.text import decision_reason, percent, percent_shares


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


def test_shares_add_up_to_exactly_100_percent() -> None:
    # Each rounded on its own, thirds read 34% + 34% + 34% (up) or 33% + 33% + 33% (down).
    assert percent_shares([1, 1, 1]) == [(34, "34%"), (33, "33%"), (33, "33%")]
    # 12, 7, 6, 6 of 31: 38.71, 22.58, 19.35, 19.35 -> floors 38+22+19+19 = 98; the two units
    # left go to the largest remainders (.71, .58).
    assert percent_shares([12, 7, 6, 6]) == [(39, "39%"), (23, "23%"), (19, "19%"), (19, "19%")]
    # One decimal: 2/3 = 66.67 -> 666 + 1; 1/3 = 33.33 -> 333.
    assert percent_shares([2, 1], 1) == [(667, "66.7%"), (333, "33.3%")]
    assert percent_shares([5, 0]) == [(100, "100%"), (0, "0%")]
    assert percent_shares([0, 0]) == [(0, "0%"), (0, "0%")]
    assert percent_shares([]) == []
    for counts in ([1] * 7, [3, 3, 1], [5, 4, 4, 4, 4, 4], [997, 1, 1, 1]):
        assert sum(units for units, _ in percent_shares(counts)) == 100


def test_the_reason_beside_its_decision_does_not_repeat_it() -> None:
    """The recorded reasons (§8: "ready", "regression: ...") shown after the decision word."""
    assert decision_reason("READY", "ready") == "every gate passes"
    assert decision_reason("REGRESSION", "regression: v2 needs 4.2 against 0.9 for v1") == (
        "v2 needs 4.2 against 0.9 for v1"
    )
    assert decision_reason("REGRESSION", "reported by kim: boxes drift") == (
        "reported by kim: boxes drift"
    )
    assert decision_reason("WAIT", "need 10% delta, have 4%") == "need 10% delta, have 4%"
