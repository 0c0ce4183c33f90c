"""Travel times on random small networks (one-way streets, turn restrictions, disconnected pieces)
against a brute-force search over journey states."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.roads import Restriction
from tests.dispatch.roadkit import BAND, brute_eta, place, position, roads


@st.composite
def networks(draw: st.DrawFn) -> tuple[RoadNetwork, list[float]]:
    n = draw(st.integers(3, 7))
    cells = draw(
        st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=n, max_size=n, unique=True)
    )
    coords = [position(i, j) for i, j in cells]
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
    raw = draw(st.lists(st.tuples(pairs, st.integers(0, 4), st.booleans()), min_size=2, max_size=12))
    # One link per pair of nodes and way (a way does not run between the same two nodes twice).
    links = list({(min(a, b), max(a, b), way): (a, b, way, one_way) for (a, b), way, one_way in raw}.values())
    lengths = draw(st.lists(st.floats(10.0, 500.0), min_size=len(links), max_size=len(links)))
    rules = []
    for via, from_way, to_way, only in draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, 4), st.integers(0, 4), st.booleans()), max_size=4
        )
    ):
        rules.append(Restriction(from_way, via, to_way, only=only))
    data = roads(coords, links, restrictions=tuple(rules), lengths=lengths)
    fractions = draw(
        st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=data.segments, max_size=data.segments)
    )
    return RoadNetwork(data), fractions


@settings(max_examples=250, deadline=None)
@given(networks())
def test_every_routable_journey_takes_the_brute_force_time(case: tuple[RoadNetwork, list[float]]) -> None:
    net, fractions = case
    secs = net.seconds(BAND)
    routable = [s for s in range(net.data.segments) if net._routable[s]]
    event(f"restrictions applied: {min(net.report.restrictions_applied, 2)}")
    event(f"cut off segments: {min(net.report.cut_off_segments, 1)}")
    for dest in routable:
        to = place(net, dest, fractions[dest])
        reach = net.times_to(to, BAND)
        starts = np.array(routable)
        got = net.etas(to, reach, starts, np.array([fractions[s] for s in routable]), BAND)
        for s, eta in zip(routable, got, strict=True):
            want = brute_eta(net.data, secs, (s, fractions[s]), (dest, fractions[dest]))
            # Both ends are in the one piece that is kept, so there is always a way.
            assert math.isfinite(eta), (s, dest)
            assert math.isclose(eta, want, rel_tol=1e-9, abs_tol=1e-6), (
                s,
                dest,
                eta,
                want,
                _describe(net, fractions),
            )


@settings(max_examples=150, deadline=None)
@given(networks())
def test_a_search_forward_from_the_origin_gives_the_same_times_as_the_reverse_one(
    case: tuple[RoadNetwork, list[float]],
) -> None:
    net, fractions = case
    routable = [s for s in range(net.data.segments) if net._routable[s]]
    targets = np.array(routable, dtype=np.int64)
    at = np.array([fractions[s] for s in routable])
    for origin in routable:
        here = (np.array([origin]), np.array([fractions[origin]]))
        forward = net.arrivals_at(net.times_from(*here, BAND), targets, at, BAND, origins=here)
        for k, dest in enumerate(routable):
            to = place(net, dest, float(at[k]))
            reverse = net.etas(to, net.times_to(to, BAND), *here, BAND)[0]
            assert math.isclose(forward[k], reverse, rel_tol=1e-9, abs_tol=1e-6), (origin, dest)


@settings(max_examples=100, deadline=None)
@given(networks())
def test_a_route_takes_as_long_as_its_eta_and_runs_from_origin_to_destination(
    case: tuple[RoadNetwork, list[float]],
) -> None:
    net, fractions = case
    routable = [s for s in range(net.data.segments) if net._routable[s]]
    for a in routable[:4]:
        for b in routable[-4:]:
            origin, dest = place(net, a, fractions[a]), place(net, b, fractions[b])
            route = net.route(origin, dest, BAND)
            assert route is not None
            assert math.isclose(route.seconds, net.eta(origin, dest, BAND), rel_tol=1e-9, abs_tol=1e-6)
            assert route.coords[0] == (origin.snapped_lat, origin.snapped_lon)
            assert route.coords[-1] == (dest.snapped_lat, dest.snapped_lon) or len(route.coords) == 1


@settings(max_examples=100, deadline=None)
@given(networks(), st.sampled_from([30.0, 120.0, 400.0]))
def test_the_reach_of_many_places_is_the_least_of_each_place_alone(
    case: tuple[RoadNetwork, list[float]], limit: float
) -> None:
    net, fractions = case
    routable = [s for s in range(net.data.segments) if net._routable[s]]
    starts = routable[:3]
    assume(starts)  # a network of one-way chains only has no piece to route in
    together = net.times_from(np.array(starts), np.array([fractions[s] for s in starts]), BAND, limit_s=limit)
    alone = [net.times_from(np.array([s]), np.array([fractions[s]]), BAND, limit_s=limit) for s in starts]
    assert np.array_equal(together, np.minimum.reduce(alone))
    # and every time reported is within the limit (the isochrone is the reachable set)
    finite = together[np.isfinite(together)]
    assert (finite <= limit).all()


def _describe(net: RoadNetwork, fractions: list[float]) -> str:
    d = net.data
    segs = list(zip(d.seg_from.tolist(), d.seg_to.tolist(), d.seg_way.tolist(), fractions, strict=True))
    return f"segments (from, to, way, fraction): {segs}; lengths {d.seg_length_m.tolist()}; {d.restrictions}"


@settings(max_examples=100, deadline=None)
@given(networks(), st.sampled_from([20.0, 60.0, 200.0]))
def test_the_cover_matrix_is_the_set_of_points_within_the_limit_by_brute_force(
    case: tuple[RoadNetwork, list[float]], limit: float
) -> None:
    """The isochrone as MCLP reads it: each origin's reachable points within the standard."""
    net, fractions = case
    secs = net.seconds(BAND)
    routable = [s for s in range(net.data.segments) if net._routable[s]]
    assume(routable)
    at = np.array([fractions[s] for s in routable])
    cover = net.cover((np.array(routable), at), (np.array(routable), at), BAND, limit_s=limit).toarray()
    for i, origin in enumerate(routable):
        for k, dest in enumerate(routable):
            want = brute_eta(net.data, secs, (origin, fractions[origin]), (dest, fractions[dest]))
            if abs(want - limit) < 1e-6:
                continue  # on the boundary: either answer is the same time
            assert cover[i, k] == (want <= limit), (origin, dest, want, limit)
