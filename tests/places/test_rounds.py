"""The visit list's pure decisions: which warnings are visits, priorities, precision, the walking round."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safecity.core.finding import Ref
from safecity.core.geo import distance_m
from safecity.places.rounds import (
    Stop,
    is_housing_warning,
    precision,
    priority_of,
    walking_round,
)

COMPOUND = Ref("compound", "CP1")


def test_housing_warnings_are_housing_kinds_about_a_compound() -> None:
    assert is_housing_warning("housing_dormant_tenant", [COMPOUND, Ref("flat", "3")])
    assert is_housing_warning("registration", [Ref("flat", "3"), COMPOUND])
    assert not is_housing_warning("housing_dormant_tenant", [Ref("flat", "3")])
    assert not is_housing_warning("hotlist", [COMPOUND])
    assert not is_housing_warning("shop_intrusion", [COMPOUND])
    assert not is_housing_warning("", [COMPOUND])


def test_priority_follows_severity_and_unknown_comes_last() -> None:
    assert [priority_of(s) for s in ("critical", "high", "medium", "low", "odd", None)] == [1, 2, 3, 4, 5, 5]


def test_precision_counts_only_confirmed_and_false_alarms() -> None:
    assert precision(0, 0) is None
    assert precision(2, 1) == 0.6667
    assert precision(3, 0) == 1.0
    assert precision(0, 4) == 0.0


def test_a_round_without_a_start_begins_at_the_first_located_stop() -> None:
    stops = [
        Stop("nowhere", None, None),
        Stop("a", 28.0, 120.0),
        Stop("b", 28.01, 120.0),
        Stop("c", 28.001, 120.0),
    ]
    legs = walking_round(None, stops)
    assert [leg.key for leg in legs] == ["a", "c", "b", "nowhere"]
    assert legs[0].distance_m is None and legs[-1].distance_m is None
    assert [leg.order for leg in legs] == [1, 2, 3, 4]


points = st.tuples(st.floats(27.9, 28.1), st.floats(120.5, 120.8))


@given(start=st.one_of(st.none(), points), where=st.lists(st.one_of(st.none(), points), max_size=12))
def test_a_round_visits_every_stop_once_always_walking_to_the_nearest_left(
    start: tuple[float, float] | None, where: list[tuple[float, float] | None]
) -> None:
    stops = [Stop(f"s{i}", *(p if p is not None else (None, None))) for i, p in enumerate(where)]
    legs = walking_round(start, stops)
    assert sorted(leg.key for leg in legs) == sorted(s.key for s in stops)
    assert [leg.order for leg in legs] == list(range(1, len(stops) + 1))
    by_key = {s.key: s for s in stops}
    located = [leg for leg in legs if by_key[leg.key].lat is not None]
    assert legs[: len(located)] == located  # stops without a position come last
    here = start
    for i, leg in enumerate(located):
        stop = by_key[leg.key]
        if here is None:
            assert leg.distance_m is None
        else:
            assert leg.distance_m is not None
            nearest = min(
                distance_m(here[0], here[1], by_key[o.key].lat, by_key[o.key].lon)  # type: ignore[arg-type]
                for o in located[i:]
            )
            assert abs(leg.distance_m - round(nearest, 1)) < 0.11
        here = (stop.lat, stop.lon)  # type: ignore[assignment]
