"""A strategy adopts the venue's position only for a difference that stays: seen twice in a row
while quiet, with no fill applied in between."""

from __future__ import annotations

import pytest

from strategies.position_check import PositionCheck

pytestmark = pytest.mark.timeout(10)


def test_a_lasting_difference_is_adopted_on_its_second_sighting() -> None:
    check = PositionCheck()
    assert check.observe(0.1, 0.0, 5, quiet=True) is False
    assert check.observe(0.1, 0.0, 5, quiet=True) is True
    assert check.observe(0.0, 0.0, 5, quiet=True) is False  # adopted: agreement from now on


def test_a_fill_on_its_way_is_not_a_difference_to_adopt() -> None:
    check = PositionCheck()
    assert check.observe(0.0, 0.1, 5, quiet=True) is False  # risk has the fill, we do not yet
    assert check.observe(0.1, 0.1, 6, quiet=True) is False  # it arrived
    assert check.observe(0.1, 0.2, 6, quiet=True) is False
    assert check.observe(0.2, 0.2, 7, quiet=True) is False
    # a fill applied between two sightings of a difference starts the count again
    assert check.observe(0.2, 0.0, 7, quiet=True) is False
    assert check.observe(0.3, 0.0, 8, quiet=True) is False
    assert check.observe(0.3, 0.0, 8, quiet=True) is True


def test_observations_with_an_order_in_flight_neither_count_nor_reset() -> None:
    check = PositionCheck()
    assert check.observe(0.1, 0.0, 5, quiet=True) is False
    assert check.observe(0.1, 0.0, 5, quiet=False) is False
    assert check.observe(0.0, 0.0, 5, quiet=False) is False
    assert check.observe(0.1, 0.0, 5, quiet=True) is True
