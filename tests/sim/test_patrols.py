"""A point part-way along a route, by length."""

from __future__ import annotations

import pytest

from safecity.sim.patrols import along

ROUTE = [(28.0, 120.0), (28.0, 120.002), (28.001, 120.002)]  # east ~196 m, then north ~111 m


def test_a_point_part_way_along_a_route_is_that_share_of_its_length() -> None:
    assert along(ROUTE, 0.0) == ROUTE[0]
    assert along(ROUTE, 1.0) == ROUTE[-1]
    lat, lon = along(ROUTE, 0.5)  # 153 m of 306: still on the first leg (196 m)
    assert lat == pytest.approx(28.0) and 120.0015 < lon < 120.0016
    lat, lon = along(ROUTE, 0.9)
    assert lon == pytest.approx(120.002) and 28.0007 < lat < 28.00075  # 0.9 x 307 m: 85 m up the second leg
    assert along([ROUTE[0]], 0.5) == ROUTE[0]
    with pytest.raises(ValueError, match="empty route"):
        along([], 0.5)
