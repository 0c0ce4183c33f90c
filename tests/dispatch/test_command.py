"""Units, incidents and dispatch orders on SQLite and PostgreSQL: the whole flow from a call to the
report back, the double assignment, duplicates, reach, late orders, fixes and refusals."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import shapely
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from safecity.dispatch.errors import DispatchConflict, DispatchError
from safecity.dispatch.models import OrderStatus, UnitStatus
from safecity.dispatch.runcards import Department
from safecity.dispatch.schemas import OrderUpdateIn
from tests.dispatch.dispatch_city import (
    COMMANDER,
    DISPATCHER,
    DISPATCHER_2,
    FAR_OFFICER,
    OFFICER_P1,
    Centre,
    build_centre,
    call,
)
from tests.dispatch.roadkit import position


@pytest.fixture
def centre(session_factory: sessionmaker[Session], clock: ManualClock) -> Centre:
    return build_centre(session_factory, clock)


def _update(status: OrderStatus, **extra: str) -> OrderUpdateIn:
    return OrderUpdateIn(status=status, **extra)


def test_a_call_becomes_orders_to_four_departments_and_the_handset_reports_back(centre: Centre) -> None:
    incident = centre.incidents.create(DISPATCHER, call(1, 1), resource="t")
    assert (incident.status, incident.area_id, incident.priority) == ("open", "A1", 1)
    assert incident.caller_phone == "138****5678"  # a dispatcher sees it masked

    orders = centre.orders.dispatch(DISPATCHER, incident.id, resource="t")
    by_department = {o.department: o for o in orders}
    assert set(by_department) == {
        Department.PATROL,
        Department.CRIMINAL,
        Department.TECHNICAL,
        Department.INTELLIGENCE,
    }
    patrol = by_department[Department.PATROL]
    # P1 at (0, 0) drives 2 blocks; F1 at (2, 2) is as near but walks; P2 at (1, 4) is 3 blocks.
    assert patrol.unit_id == "P1"
    assert patrol.eta_s == pytest.approx(2 * 100 / (30 / 3.6 * 0.9), rel=0.01)  # day band, residential
    assert all(o.desk == o.department for o in orders if o is not patrol)
    assert centre.units.get(DISPATCHER, "P1").status == "assigned"

    # The officer of P1 works the order from the handset.
    for status in (OrderStatus.ACCEPTED, OrderStatus.EN_ROUTE):
        centre.clock.advance(timedelta(minutes=1))
        assert centre.orders.update(OFFICER_P1, patrol.id, _update(status), resource="t").status == status
    assert centre.units.get(DISPATCHER, "P1").status == "en_route"
    centre.clock.advance(timedelta(minutes=1))
    centre.orders.update(OFFICER_P1, patrol.id, _update(OrderStatus.ON_SCENE, note="到达现场"), resource="t")
    arrived = centre.incidents.get(DISPATCHER, incident.id, resource="t")
    assert arrived.status == "on_scene"
    assert arrived.arrived_at is not None and arrived.dispatched_at is not None
    assert arrived.arrived_at - arrived.reported_at == timedelta(minutes=3)
    with pytest.raises(DispatchError, match="report back is needed"):
        centre.orders.update(OFFICER_P1, patrol.id, _update(OrderStatus.REPORTED), resource="t")
    done = centre.orders.update(
        OFFICER_P1, patrol.id, _update(OrderStatus.REPORTED, report="嫌疑人已控制"), resource="t"
    )
    assert (done.status, done.report) == ("reported", "嫌疑人已控制")
    assert centre.units.get(DISPATCHER, "P1").status == "returning"

    steps = [e.what for e in centre.incidents.timeline(DISPATCHER, incident.id)]
    assert steps[0] == "created" and steps.count("order_issued") == 4
    assert steps[-5:] == [
        "order_accepted",
        "order_en_route",
        "order_on_scene",
        "order_note",
        "order_reported",
    ]
    closed = centre.incidents.close(COMMANDER, incident.id, "嫌疑人已移交刑侦", resource="t")
    assert closed.status == "closed"
    # The desks' orders still open at the close are cancelled.
    assert {o.status for o in centre.orders.of_incident(COMMANDER, incident.id)} == {"reported", "cancelled"}
    assert "dispatch.orders_issue" in centre.trail.actions()
    assert centre.trail.actions().count("dispatch.order_update") == 4  # the refused one changed nothing


def test_two_dispatchers_assigning_the_same_unit_at_once_one_wins_and_the_other_is_told(
    centre: Centre,
) -> None:
    first = centre.incidents.create(DISPATCHER, call(1, 1), resource="t")
    second = centre.incidents.create(DISPATCHER_2, call(1, 3, kind="fight"), resource="t")
    version = centre.units.get(DISPATCHER, "P2").version
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def send(who: object, incident_id: int) -> None:
        start.wait()
        try:
            outcomes[str(incident_id)] = centre.orders.dispatch(
                who,  # type: ignore[arg-type]
                incident_id,
                units={Department.PATROL: "P2"},
                versions={Department.PATROL: version},
                resource="t",
            )
        except DispatchConflict as exc:
            outcomes[str(incident_id)] = exc

    threads = [
        threading.Thread(target=send, args=(DISPATCHER, first.id)),
        threading.Thread(target=send, args=(DISPATCHER_2, second.id)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    conflicts = [v for v in outcomes.values() if isinstance(v, DispatchConflict)]
    wins = [v for v in outcomes.values() if isinstance(v, list)]
    assert len(conflicts) == 1 and len(wins) == 1, outcomes
    assert "P2" in str(conflicts[0])
    winner = next(int(k) for k, v in outcomes.items() if isinstance(v, list))
    loser = first.id if winner == second.id else second.id
    unit = centre.units.get(DISPATCHER, "P2")
    assert (unit.status, unit.incident_id, unit.version) == ("assigned", winner, version + 1)
    # All or nothing: the loser's incident got no orders at all, and stays open for another try.
    assert centre.orders.of_incident(DISPATCHER, loser) == []
    assert centre.incidents.get(DISPATCHER, loser, resource="t").status == "open"
    again = centre.orders.dispatch(DISPATCHER, loser, resource="t")
    assert next(o for o in again if o.department == Department.PATROL).unit_id not in (None, "P2")


def test_a_place_off_the_roads_or_outside_the_city_is_refused_saying_how_far(centre: Centre) -> None:
    with pytest.raises(DispatchError, match=r"m from the nearest road") as at_sea:
        centre.incidents.create(DISPATCHER, call(2, 30), resource="t")
    assert at_sea.value.field == "lat"
    with pytest.raises(ValueError, match="unknown incident type"):
        call(1, 1, kind="alien_landing")
    future = centre.clock.now() + timedelta(hours=1)
    with pytest.raises(DispatchError, match="after now"):
        centre.incidents.create(DISPATCHER, call(1, 1, reported_at=future), resource="t")


def test_status_changes_out_of_order_are_refused_with_what_is_allowed(centre: Centre) -> None:
    with pytest.raises(DispatchError, match="P1 is available: from there it can become assigned, off_duty"):
        centre.units.set_status(DISPATCHER, "P1", UnitStatus.EN_ROUTE, expected_version=None, resource="t")
    with pytest.raises(DispatchError, match="assigned by an order"):
        centre.units.set_status(DISPATCHER, "P1", UnitStatus.ASSIGNED, expected_version=None, resource="t")
    unit = centre.units.set_status(DISPATCHER, "P2", UnitStatus.OFF_DUTY, expected_version=None, resource="t")
    with pytest.raises(DispatchConflict, match="changed since you looked"):
        centre.units.set_status(
            DISPATCHER, "P2", UnitStatus.AVAILABLE, expected_version=unit.version - 1, resource="t"
        )
    incident = centre.incidents.create(DISPATCHER, call(1, 3), resource="t")
    with pytest.raises(DispatchError, match="P2 is off duty"):
        centre.orders.dispatch(DISPATCHER, incident.id, units={Department.PATROL: "P2"}, resource="t")
    with pytest.raises(DispatchError, match="sends no unit of traffic"):
        centre.orders.dispatch(DISPATCHER, incident.id, units={Department.TRAFFIC: "T1"}, resource="t")
    orders = centre.orders.dispatch(DISPATCHER, incident.id, resource="t")
    desk = next(o for o in orders if o.desk == Department.CRIMINAL)
    with pytest.raises(DispatchError, match="it can become accepted, cancelled, not on_scene"):
        centre.orders.update(DISPATCHER, desk.id, _update(OrderStatus.ON_SCENE), resource="t")


def test_a_second_call_about_the_same_thing_is_offered_as_a_duplicate_and_merged(centre: Centre) -> None:
    first = centre.incidents.create(DISPATCHER, call(1, 1), resource="t")
    orders = centre.orders.dispatch(DISPATCHER, first.id, resource="t")
    centre.clock.advance(timedelta(minutes=4))
    second = centre.incidents.create(DISPATCHER_2, call(1.5, 1), resource="t")  # 50 m away
    assert second.possible_duplicates == [first.id]
    elsewhere = centre.incidents.create(DISPATCHER_2, call(1.5, 1, kind="traffic_accident"), resource="t")
    assert elsewhere.possible_duplicates == []
    merged = centre.incidents.merge(DISPATCHER_2, second.id, first.id, resource="t")
    assert merged.id == first.id
    assert centre.incidents.get(DISPATCHER, second.id, resource="t").merged_into == first.id
    assert len(centre.orders.of_incident(DISPATCHER, first.id)) == len(orders)
    assert "merged_in" in [e.what for e in centre.incidents.timeline(DISPATCHER, first.id)]
    with pytest.raises(DispatchConflict, match="merged"):
        centre.incidents.merge(DISPATCHER, second.id, elsewhere.id, resource="t")


def test_reach_an_officer_sees_their_areas_and_a_unit_works_its_own_orders_anywhere(centre: Centre) -> None:
    incident = centre.incidents.create(DISPATCHER, call(1, 1), resource="t")
    with pytest.raises(AccessDenied):
        centre.incidents.get(FAR_OFFICER, incident.id, resource="t")
    with pytest.raises(AccessDenied):
        centre.incidents.create(FAR_OFFICER, call(0, 2), resource="t")
    # P3 (of A2) sent across to A1: its crew may work its order there.
    centre.units.sign_on(FAR_OFFICER, "P3", resource="t")
    orders = centre.orders.dispatch(DISPATCHER, incident.id, units={Department.PATROL: "P3"}, resource="t")
    p3 = next(o for o in orders if o.unit_id == "P3")
    assert centre.orders.of_unit(FAR_OFFICER, "P3")[0].id == p3.id
    assert (
        centre.orders.update(FAR_OFFICER, p3.id, _update(OrderStatus.ACCEPTED), resource="t").status
        == "accepted"
    )
    # Another officer of A2, not on P3's crew, may not work an order in A1.
    other = Context(actor="officer.other", role="patrol_officer", areas=frozenset({"A2"}))
    with pytest.raises(AccessDenied):
        centre.orders.update(other, p3.id, _update(OrderStatus.EN_ROUTE), resource="t")
    with pytest.raises(AccessDenied):
        centre.orders.of_unit(Context(actor="nobody", role="patrol_officer"), "P3")
    assert {u.id for u in centre.units.list(FAR_OFFICER)} == {"P3", "T1"}
    with pytest.raises(DispatchConflict, match="signed on to P3"):
        centre.units.sign_on(FAR_OFFICER, "T1", resource="t")


def test_orders_past_their_deadline_are_late_until_done(centre: Centre) -> None:
    incident = centre.incidents.create(DISPATCHER, call(1, 1), resource="t")
    centre.orders.dispatch(DISPATCHER, incident.id, resource="t")
    assert centre.orders.late(COMMANDER) == []
    centre.clock.advance(timedelta(minutes=11))  # past the patrol's 5 and intelligence's 10 minutes
    late = centre.orders.late(COMMANDER)
    assert {o.department for o in late} == {Department.PATROL, Department.INTELLIGENCE}
    assert all(o.late for o in late)
    intelligence = next(o for o in late if o.department == Department.INTELLIGENCE)
    centre.orders.update(DISPATCHER, intelligence.id, _update(OrderStatus.ACCEPTED), resource="t")
    centre.orders.update(
        DISPATCHER, intelligence.id, _update(OrderStatus.REPORTED, report="轨迹已推送"), resource="t"
    )
    assert {o.department for o in centre.orders.late(COMMANDER)} == {Department.PATROL}
    assert centre.orders.late(FAR_OFFICER) == []  # not in A2


def test_fixes_move_a_unit_unless_off_the_road_or_impossibly_fast(centre: Centre) -> None:
    t = centre.clock.now()
    assert centre.units.record_fix("P1", *position(0, 1), t) is None
    assert centre.units.get(DISPATCHER, "P1").lat == pytest.approx(position(0, 1)[0])
    off = centre.units.record_fix("P1", *position(0.5, 2.5), t + timedelta(seconds=30))  # 50 m off: fine
    assert off is None
    off = centre.units.record_fix("P1", *position(2.5, 2.5), t + timedelta(seconds=60))  # mid-block: 50 m
    assert off is None
    far = centre.units.record_fix("P1", *position(2, 20), t + timedelta(seconds=90))
    assert far is not None and "m from the nearest road" in far
    jump = centre.units.record_fix("P1", *position(4, 0), t + timedelta(seconds=62))  # 290 m in 2 s
    assert jump is not None and "km/h" in jump
    unit = centre.units.get(DISPATCHER, "P1")
    assert unit.position_flag == jump
    assert unit.lat == pytest.approx(position(2.5, 2.5)[0])  # the last trusted fix
    assert centre.units.record_fix("P1", *position(0, 0), t) is None  # older than the last: ignored


def test_a_drone_is_ranked_by_air_within_its_endurance(centre: Centre) -> None:
    incident = centre.incidents.create(DISPATCHER, call(0, 3, kind="traffic_accident"), resource="t")
    ranked = centre.orders.candidates(DISPATCHER, incident.id)
    drone = next(c for c in ranked if c.unit_id == "D1")
    assert drone.by_air and drone.distance_m == pytest.approx(100.0, abs=1)
    assert drone.eta_s == pytest.approx(100 / (60 / 3.6), rel=0.01)
    assert ranked[0].unit_id == "D1"  # 6 s by air beats any road
    assert [c.eta_s for c in ranked] == sorted(c.eta_s for c in ranked)
    assert ranked[1].route and ranked[1].route[-1] == pytest.approx(position(0, 3), abs=1e-6)
    # 6 km away there and back is 12 minutes: more than its 10 in the air.
    lat, lon = position(0, 4)
    centre.units.record_fix("D1", lat + 0.054, lon, centre.clock.now())
    assert all(c.unit_id != "D1" for c in centre.orders.candidates(DISPATCHER, incident.id))


def test_response_times_by_district_type_priority_and_hour_with_the_open_ones_counted(centre: Centre) -> None:
    from safecity.dispatch.kpis import ResponseKpis

    kpis = ResponseKpis(centre.units._sessions, centre.trail, lambda: centre.network, now=centre.clock.now)
    first = centre.incidents.create(DISPATCHER, call(1, 1), resource="t")
    centre.clock.advance(timedelta(minutes=1))
    orders = centre.orders.dispatch(DISPATCHER, first.id, resource="t")
    patrol = next(o for o in orders if o.unit_id)
    centre.clock.advance(timedelta(minutes=4))
    centre.orders.update(OFFICER_P1, patrol.id, _update(OrderStatus.ACCEPTED), resource="t")
    centre.orders.update(OFFICER_P1, patrol.id, _update(OrderStatus.ON_SCENE), resource="t")
    second = centre.incidents.create(DISPATCHER, call(3, 3, kind="fight"), resource="t")  # in A2, not sent
    centre.clock.advance(timedelta(minutes=2))
    report = kpis.report(COMMANDER, by="kind", days=1)
    assert report.overall.incidents == 2 and report.overall.not_dispatched == 1
    by_kind = {row.key: row for row in report.rows}
    burglary = by_kind["burglary_in_progress"]
    assert (burglary.call_to_dispatch.median, burglary.dispatch_to_arrival.median) == (1.0, 4.0)
    assert burglary.call_to_arrival.p90 == 5.0
    assert by_kind["fight"].call_to_arrival.mean is None  # not reached: counted, not timed
    assert report.reference_min == 5.9
    districts = kpis.report(COMMANDER, by="district", days=1)
    assert [row.key for row in districts.rows] == ["D1"]  # both stations roll up to their district
    hours = kpis.report(COMMANDER, by="hour", days=1)
    assert [row.key for row in hours.rows] == ["16"]  # 08:00 UTC is 16:00 in Wenzhou
    assert kpis.report(FAR_OFFICER, by="kind", days=1).overall.incidents == 1  # A2 only: the fight
    with pytest.raises(DispatchError, match="group by one of"):
        kpis.report(COMMANDER, by="colour", days=1)
    assert second.id > first.id


def test_response_circles_cover_the_roads_reached_in_time_and_flag_a_district_short_of_its_target(
    centre: Centre,
) -> None:
    from safecity.dispatch.coverage import Coverage

    coverage = Coverage(centre.units._sessions, centre.trail, lambda: centre.network, now=centre.clock.now)
    for unit in ("P2", "P3", "T1", "F1"):  # P1 alone at (0, 0) is available
        centre.units.set_status(COMMANDER, unit, UnitStatus.OFF_DUTY, expected_version=None, resource="t")
    near = centre.incidents.create(DISPATCHER, call(0.5, 0), resource="t")  # 50 m from P1
    far = centre.incidents.create(DISPATCHER, call(4, 4), resource="t")  # 8 blocks: 107 s by day
    out = coverage.circles(COMMANDER)
    assert out.units == 1  # the drone and the units off duty do not count
    minutes = [f["properties"]["minutes"] for f in out.circles["features"]]
    assert minutes == [1.0, 3.0, 5.0]
    one, _, five = (shapely.geometry.shape(f["geometry"]) for f in out.circles["features"])
    assert one.area < five.area
    assert five.contains(shapely.Point(position(4, 4)[::-1]).buffer(0.0001).centroid)
    assert not one.contains(shapely.Point(position(4, 4)[::-1]))
    (district,) = out.districts
    assert district.district == "D1" and district.incidents == 2
    assert district.share == [0.5, 1.0, 1.0]  # the far call is within 3 minutes, not 1
    assert not district.gap
    coverage.target = 1.0
    centre.units.set_status(COMMANDER, "P1", UnitStatus.OFF_DUTY, expected_version=None, resource="t")
    nobody = coverage.circles(COMMANDER)
    assert nobody.units == 0 and nobody.circles["features"] == []
    assert nobody.districts[0].share == [0.0, 0.0, 0.0] and nobody.districts[0].gap
    assert near.id != far.id


def test_each_candidate_says_what_its_departure_does_to_its_districts_coverage(centre: Centre) -> None:
    for unit in ("P3", "T1", "F1"):
        centre.units.set_status(COMMANDER, unit, UnitStatus.OFF_DUTY, expected_version=None, resource="t")
    # Past incidents around P1's corner: P2 at (1, 4) reaches them in 3 to 5 blocks, P1 at once.
    for i, j in ((0, 0.5), (0.5, 0), (1, 0.5)):
        centre.incidents.create(DISPATCHER, call(i, j, kind="theft"), resource="t")
    incident = centre.incidents.create(DISPATCHER, call(0, 1), resource="t")
    ranked = centre.orders.candidates(DISPATCHER, incident.id, department="patrol")
    by_unit = {c.unit_id: c for c in ranked}
    p1, p2 = by_unit["P1"], by_unit["P2"]
    assert p1.district == p2.district == "D1"
    assert p1.coverage_now == p2.coverage_now == 1.0  # all four reached within 5 minutes now
    assert p2.coverage_without == 1.0 and p1.coverage_without == 1.0  # the other covers them too
    # With P1 the last unit on duty, sending it leaves the district uncovered, and the desk sees it.
    centre.units.set_status(COMMANDER, "P2", UnitStatus.OFF_DUTY, expected_version=None, resource="t")
    (only,) = centre.orders.candidates(DISPATCHER, incident.id, department="patrol")
    assert (only.unit_id, only.coverage_now, only.coverage_without) == ("P1", 1.0, 0.0)
    drone = centre.orders.candidates(DISPATCHER, incident.id)
    assert all(c.coverage_now is None for c in drone if c.by_air)  # drones are not the road cover


def test_the_incident_list_shows_no_caller_and_only_the_audited_read_does(centre: Centre) -> None:
    incident = centre.incidents.create(DISPATCHER, call(1, 1), resource="t")
    (listed,) = centre.incidents.list(DISPATCHER)
    assert (listed.caller_name, listed.caller_phone) == ("", "")  # a list read is not audited
    one = centre.incidents.get(DISPATCHER, incident.id, resource="t")
    assert (one.caller_name, one.caller_phone) == ("王女士", "138****5678")
    assert centre.trail.actions()[-1] == "dispatch.incident_read"


def test_an_incident_the_network_no_longer_reaches_is_refused_not_failed(centre: Centre) -> None:
    incident = centre.incidents.create(DISPATCHER, call(1.5, 1.2), resource="t")  # 20 m off the road
    centre.network.max_snap_m = 5.0  # the network changed under it (a tighter setting, another file)
    try:
        with pytest.raises(DispatchError, match="m from the nearest road"):
            centre.orders.candidates(DISPATCHER, incident.id)
        with pytest.raises(DispatchError, match="m from the nearest road"):
            centre.orders.dispatch(DISPATCHER, incident.id, resource="t")
    finally:
        centre.network.max_snap_m = 300.0


def test_a_unit_with_an_open_order_is_not_stood_down_by_a_status_change(centre: Centre) -> None:
    """Found by the simulated day: setting an assigned unit available left its order issued, so
    the unit could be sent twice. Its order is cancelled instead (which frees the unit)."""
    incident = centre.incidents.create(DISPATCHER, call(0, 0.5), resource="t")
    orders = centre.orders.dispatch(DISPATCHER, incident.id, units={"patrol": "P2"}, resource="t")
    (patrol,) = [o for o in orders if o.unit_id == "P2"]
    for status in (UnitStatus.AVAILABLE, UnitStatus.OFF_DUTY):
        with pytest.raises(
            DispatchConflict, match=f"P2 has open order {patrol.id} on incident {incident.id}"
        ):
            centre.units.set_status(COMMANDER, "P2", status, expected_version=None, resource="t")
    assert centre.units.get(COMMANDER, "P2").status == UnitStatus.ASSIGNED
    centre.orders.update(DISPATCHER, patrol.id, _update(OrderStatus.CANCELLED), resource="t")
    assert centre.units.get(COMMANDER, "P2").status == UnitStatus.AVAILABLE
    centre.units.set_status(COMMANDER, "P2", UnitStatus.OFF_DUTY, expected_version=None, resource="t")
