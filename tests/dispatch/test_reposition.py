"""Population in the response circles, and the repositioning suggestion (maximal covering) on the
test centre's lattice, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.dispatch.coverage import Coverage
from safecity.dispatch.errors import DispatchError
from safecity.dispatch.models import UnitStatus
from safecity.registry.models import Person
from safecity.store import transaction
from tests.dispatch.dispatch_city import COMMANDER, DISPATCHER, FAR_OFFICER, Centre, build_centre, call


@pytest.fixture
def centre(session_factory: sessionmaker[Session], clock: ManualClock) -> Centre:
    return build_centre(session_factory, clock)


def _coverage(centre: Centre) -> Coverage:
    return Coverage(centre.units._sessions, centre.trail, lambda: centre.network, now=centre.clock.now)


def _residents(centre: Centre, area: str, count: int, first: int) -> None:
    with transaction(centre.units._sessions) as session:
        for n in range(first, first + count):
            session.add(
                Person(
                    id_number=f"33010219800101{n:04d}",
                    name=f"居民{n}",
                    home_area_id=area,
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )


def _only(centre: Centre, *available: str) -> None:
    for unit in ("P1", "P2", "P3", "T1", "F1"):
        if unit not in available:
            centre.units.set_status(COMMANDER, unit, UnitStatus.OFF_DUTY, expected_version=None, resource="t")


def test_the_circles_count_each_districts_residents_and_the_share_reached(centre: Centre) -> None:
    _residents(centre, "A1", 30, 0)
    _residents(centre, "A2", 10, 100)
    coverage = _coverage(centre)
    out = coverage.circles(COMMANDER)
    (district,) = out.districts
    assert district.district == "D1" and district.residents == 40 and district.incidents == 0
    assert district.share == [None, None, None]  # no incident: no share, not a zero
    one, three, five = district.population_share
    assert one is not None and three is not None and five is not None
    assert 0.0 < one <= three <= five == 1.0  # all of the small lattice is within 5 minutes
    assert not district.gap
    # An officer of A2 sees A2's residents only.
    (theirs,) = coverage.circles(FAR_OFFICER).districts
    assert theirs.residents == 10
    with centre.units._sessions() as session:
        assert {a: n for a, n, *_ in registry.residents_by_area(session, area_ids={"A2"})} == {"A2": 10}
    # Nobody on duty: nobody reached, and a district with no incidents is judged by its residents.
    _only(centre)
    (nobody,) = coverage.circles(COMMANDER).districts
    assert nobody.population_share == [0.0, 0.0, 0.0] and nobody.gap


def test_repositioning_moves_units_towards_the_uncovered_demand_and_the_optimum_agrees(
    centre: Centre,
) -> None:
    _only(centre, "P1", "P2")  # both on the west side (0, 0) and (1, 4)
    for i, j in ((4, 0.5), (4, 1), (3.5, 0), (4, 3.5), (3.5, 4), (4, 4)):  # calls in the east
        centre.incidents.create(DISPATCHER, call(i, j, kind="theft"), resource="t")
    coverage = _coverage(centre)
    live = coverage.reposition(COMMANDER, minutes=1.0)
    assert live.units == 2 and live.demand_total == 6.0 and live.method == "heuristic"
    assert live.share_now < 1.0
    assert live.share_suggested == 1.0
    assert live.moves and {m.unit_id for m in live.moves} <= {"P1", "P2"}
    assert all(m.eta_s > 0 and m.to[1] > m.from_[1] for m in live.moves)  # they drive east
    planned = coverage.reposition(COMMANDER, minutes=1.0, exact=True)
    assert planned.method == "exact" and planned.optimal
    assert planned.share_suggested == 1.0 and planned.heuristic_share == 1.0 and planned.gap_pct == 0.0


def test_units_already_where_they_should_be_are_told_to_stay(centre: Centre) -> None:
    _only(centre, "P3")  # at (4, 4)
    centre.incidents.create(DISPATCHER, call(4, 3.5, kind="theft"), resource="t")
    out = _coverage(centre).reposition(COMMANDER, minutes=1.0)
    assert out.share_now == out.share_suggested == 1.0
    assert out.moves == []


def test_a_suggestion_without_demand_or_units_says_why_and_a_bad_standard_is_refused(centre: Centre) -> None:
    coverage = _coverage(centre)
    empty = coverage.reposition(COMMANDER, demand="population")
    assert empty.moves == [] and "no population" in empty.message
    _only(centre)
    centre.incidents.create(DISPATCHER, call(1, 1, kind="theft"), resource="t")
    assert "no available road unit" in coverage.reposition(COMMANDER).message
    with pytest.raises(DispatchError, match="a standard of 1 to 15 minutes, not 0.5"):
        coverage.reposition(COMMANDER, minutes=0.5)


def test_no_unit_is_moved_when_where_they_stand_already_covers_everything(centre: Centre) -> None:
    _only(centre, "P1", "P2")
    for i, j in ((0, 0.5), (1, 3.5), (1, 1)):
        centre.incidents.create(DISPATCHER, call(i, j, kind="theft"), resource="t")
    coverage = _coverage(centre)
    for exact in (False, True):
        out = coverage.reposition(COMMANDER, minutes=3.0, exact=exact)
        assert out.share_now == out.share_suggested == 1.0
        assert out.moves == [], exact


def test_a_foot_patrol_is_not_counted_as_a_car_in_the_circles_or_the_standby_posts(centre: Centre) -> None:
    """Found on the demo's desk: foot patrols were counted at driving speed, and the standby
    suggestion sent walkers on 14-minute 'drives' to distant posts."""
    _only(centre, "F1")
    centre.incidents.create(DISPATCHER, call(2, 2.5, kind="theft"), resource="t")
    coverage = _coverage(centre)
    out = coverage.circles(COMMANDER)
    assert out.units == 0 and out.circles["features"] == []
    assert "no available road unit" in coverage.reposition(COMMANDER).message


def test_an_optimum_search_stopped_by_its_time_limit_says_so_and_never_suggests_worse_than_the_heuristic(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found on the demo's desk: HiGHS stopped at 30 s with 98 % while the heuristic had 99 %, and
    the desk showed the worse choice with a gap of 0 %."""
    from safecity.dispatch import coverage as coverage_module
    from safecity.dispatch import mclp

    def stopped(problem: mclp.Problem, *, time_limit_s: float) -> mclp.Solution:
        posts = np.arange(problem.units)  # a poor incumbent: the first posts (the units' own places)
        return mclp.Solution(
            posts, problem.covered(posts), problem.total, time_limit_s, "exact", False, problem.total
        )

    monkeypatch.setattr(coverage_module.mclp, "exact", stopped)
    _only(centre, "P1", "P2")
    for i, j in ((4, 0.5), (4, 1), (3.5, 0), (4, 3.5), (3.5, 4), (4, 4)):
        centre.incidents.create(DISPATCHER, call(i, j, kind="theft"), resource="t")
    out = _coverage(centre).reposition(COMMANDER, minutes=1.0, exact=True)
    assert not out.optimal
    assert out.method == "heuristic" and out.share_suggested == out.heuristic_share == 1.0 > out.share_now
    assert out.bound_share == 1.0 and out.gap_pct == 0.0
    assert out.moves


def test_an_officer_of_one_area_gets_posts_for_its_own_units_and_demand_only(centre: Centre) -> None:
    _only(centre, "P1", "P3")  # P1 in A1 (west), P3 in A2 (east)
    for i, j in ((0, 0.5), (0.5, 3)):  # calls in A1 only
        centre.incidents.create(DISPATCHER, call(i, j, kind="theft"), resource="t")
    coverage = _coverage(centre)
    # A2's officer: its one unit, and no demand of its own to cover (A1's calls are not theirs).
    theirs = coverage.reposition(FAR_OFFICER, minutes=1.0)
    assert theirs.units == 1 and theirs.demand_total == 0.0 and "no incidents" in theirs.message
    everyone = coverage.reposition(COMMANDER, minutes=1.0)
    assert everyone.units == 2 and everyone.demand_total == 2.0
    assert all(m.unit_id in {"P1", "P3"} for m in everyone.moves)
