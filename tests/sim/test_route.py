"""Routes on the lattice and the stations they pass, checked against a step-by-step walk."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.sim.grid import Grid
from safecity.sim.route import WAYPOINTS, StationIndex, cumulative_units, route_waypoints

GRID = Grid.centred(48, 32)  # 3 x 2 super-blocks


@st.composite
def parking_spots(draw: st.DrawFn) -> tuple[int, int]:
    """A mid-block spot on a row street or a column street."""
    if draw(st.booleans()):
        return draw(st.integers(0, GRID.width_units // 4 - 1)) * 4 + 2, draw(
            st.integers(0, GRID.height_units // 4 - 1)
        ) * 4
    return draw(st.integers(0, GRID.width_units // 4 - 1)) * 4, draw(
        st.integers(0, GRID.height_units // 4 - 1)
    ) * 4 + 2


def _route(o: tuple[int, int], d: tuple[int, int], hfirst: bool, u: float) -> tuple[np.ndarray, np.ndarray]:
    wx, wy = route_waypoints(
        np.array([o[0]]),
        np.array([o[1]]),
        np.array([d[0]]),
        np.array([d[1]]),
        np.array([hfirst]),
        np.array([u]),
        GRID,
    )
    return wx[0], wy[0]


def _walk(wx: np.ndarray, wy: np.ndarray) -> list[tuple[int, int, int]]:
    """Every lattice point ridden over, with the distance ridden so far (the last point excluded)."""
    out, dist = [], 0
    for k in range(len(wx) - 1):
        dx, dy = np.sign(wx[k + 1] - wx[k]), np.sign(wy[k + 1] - wy[k])
        x, y = int(wx[k]), int(wy[k])
        while (x, y) != (wx[k + 1], wy[k + 1]):
            out.append((x, y, dist))
            x, y, dist = x + dx, y + dy, dist + 1
    return out


@settings(max_examples=80, deadline=None)
@given(o=parking_spots(), d=parking_spots(), hfirst=st.booleans(), u=st.floats(0, 0.999))
def test_route_rides_along_roads_from_origin_to_destination(
    o: tuple[int, int], d: tuple[int, int], hfirst: bool, u: float
) -> None:
    wx, wy = _route(o, d, hfirst, u)
    assert len(wx) == WAYPOINTS
    assert (wx[0], wy[0]) == o
    assert (wx[-1], wy[-1]) == d
    for k in range(WAYPOINTS - 1):
        horizontal, vertical = wy[k] == wy[k + 1], wx[k] == wx[k + 1]
        assert horizontal or vertical, "legs are axis-aligned"
        if horizontal and not vertical:
            assert wy[k] % GRID.minor_units == 0, "a horizontal leg runs along a row street"
        if vertical and not horizontal:
            assert wx[k] % GRID.minor_units == 0, "a vertical leg runs along a column street"
    assert (wx >= 0).all()
    assert (wx <= GRID.width_units).all()
    assert (wy >= 0).all()
    assert (wy <= GRID.height_units).all()
    manhattan = abs(o[0] - d[0]) + abs(o[1] - d[1])
    assert manhattan <= cumulative_units(wx[None], wy[None])[0, -1] <= manhattan + 4 * GRID.minor_units


@settings(max_examples=60, deadline=None)
@given(
    routes=st.lists(
        st.tuples(parking_spots(), parking_spots(), st.booleans(), st.floats(0, 0.999)),
        min_size=1,
        max_size=6,
    ),
    seed=st.integers(0, 2**32),
)
def test_stations_passed_are_exactly_those_on_the_route(
    routes: list[tuple[tuple[int, int], tuple[int, int], bool, float]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    # Station sites as the generator uses them: intersections and quarter points.
    gx, gy = rng.integers(0, GRID.width_units // 4, 60) * 4, rng.integers(0, GRID.height_units // 4, 60) * 4
    site = rng.integers(0, 5, 60)
    sx = gx + np.select([site == 1, site == 2], [1, 3], 0)
    sy = gy + np.select([site == 3, site == 4], [1, 3], 0)
    _, keep = np.unique(sx * 10_000 + sy, return_index=True)
    sx, sy = sx[keep], sy[keep]
    index = StationIndex(sx, sy, GRID)
    at = {(int(x), int(y)): i for i, (x, y) in enumerate(zip(sx, sy, strict=True))}
    paths = [_route(*r) for r in routes]
    wx, wy = np.stack([p[0] for p in paths]), np.stack([p[1] for p in paths])
    passes = index.passes(wx, wy)
    got = list(zip(passes.route.tolist(), passes.station.tolist(), passes.dist_units.tolist(), strict=True))
    expected = [
        (r, at[(x, y)], dist)
        for r, (px, py) in enumerate(paths)
        for x, y, dist in _walk(px, py)
        if (x, y) in at
    ]
    assert got == expected
    for r in range(len(routes)):
        assert passes.ordinal[passes.route == r].tolist() == list(range(int((passes.route == r).sum())))
