"""Hazmat warnings on planted incidents, through the real rules engine with the packaged rules file:
one warning per incident, none on ordinary driving, each with its fixes, route and registry facts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts import AlertService
from safecity.core.clock import ManualClock
from safecity.core.finding import Finding, Ref
from safecity.rules import DEFAULT_RULES_FILE, FactSource, LiveFacts, RuleEngine, build_rules, load_rules
from safecity.tracking.hazmat_facts import HazmatFacts
from safecity.tracking.hazmat_schemas import CountIn, DeliverIn
from tests.conftest import T0
from tests.rules.conftest import DEVICES
from tests.tracking.hazmat_city import (
    DEPOT,
    LAT,
    OFFICER,
    SCHOOL,
    City,
    Fixes,
    add_zone,
    build_city,
    drive,
    under_way,
)

NORTH_2KM = LAT + 0.018  # 2 km north of the route


@pytest.fixture
def city(session_factory: sessionmaker[Session], clock: ManualClock) -> City:
    return build_city(session_factory, clock)


class Engine:
    """The packaged hazmat rules in the real engine, over facts reloaded after each registry change."""

    def __init__(self, session_factory: sessionmaker[Session], clock: ManualClock) -> None:
        rules = [r for r in build_rules(load_rules(DEFAULT_RULES_FILE)) if r.kind.startswith("hazmat_")]
        assert len(rules) == 8
        self.facts = LiveFacts(
            session_factory, lambda: DEVICES, ttl_s=0, sources=[FactSource("hazmat", HazmatFacts)]
        )
        self.engine = RuleEngine(rules, facts=self.facts, clock=clock)

    def changed(self) -> None:
        """What RegistryChanged("hazmat") does to the fact source."""
        self.facts.source("hazmat").invalidate()

    def batch(self, fixes: Any, now: datetime | None = None) -> list[Finding]:
        return self.engine.evaluate(fixes, now or T0)

    def tick(self, now: datetime) -> list[Finding]:
        return self.engine.tick(now)


@pytest.fixture
def engine(session_factory: sessionmaker[Session], clock: ManualClock) -> Engine:
    return Engine(session_factory, clock)


def _lons(start: float, end: float, step: float = 0.005) -> list[float]:
    n = round((end - start) / step)
    return [round(start + step * i, 6) for i in range(n + 1)]


def _trip_with_excursion(off: range) -> list[tuple[datetime, float, float, float | None]]:
    """West to east along the route, fixes `off` 2 km north of it."""
    points = drive(T0, _lons(120.60, 120.70))
    return [
        (ts, NORTH_2KM if i in off else lat, lon, speed) for i, (ts, lat, lon, speed) in enumerate(points)
    ]


# --- off route ---------------------------------------------------------------------------------


def test_leaving_the_route_for_2_km_and_coming_back_is_one_warning_routed_where_it_happened(
    city: City, engine: Engine
) -> None:
    shipment_id = under_way(city)
    engine.changed()
    fixes = Fixes()(_trip_with_excursion(range(14, 18)))  # 120.670-120.685 E: in C2

    found = engine.batch(fixes)

    [warning] = found
    assert (warning.rule, warning.rule_kind) == ("hazmat-off-route", "hazmat_off_route")
    assert (warning.subject_kind, warning.subject) == ("hazmat_shipment", str(shipment_id))
    assert [e.event_id for e in warning.evidence] == fixes["event_id"][14:18].to_list()
    assert {e.area for e in warning.evidence} == {"C2"}  # where it happened, not the tracker's C1
    assert warning.facts["distance_m"] == pytest.approx(2001, abs=5)
    assert warning.facts["un_number"] == "1203"
    assert warning.facts["loaded_kg"] == 20_000
    assert warning.facts["route"]["coordinates"][0] == [120.60, LAT]
    assert Ref("hazmat_shipment", str(shipment_id)) in warning.refs


def test_an_excursion_across_two_batches_is_still_one_warning_and_a_second_one_is_another(
    city: City, engine: Engine
) -> None:
    under_way(city)
    engine.changed()
    make = Fixes()
    points = _trip_with_excursion(range(4, 8))
    assert len(engine.batch(make(points[:6]))) == 1
    assert engine.batch(make(points[6:12])) == []  # still off, then back on
    again = engine.batch(make(_trip_with_excursion(range(16, 18))[12:]))
    assert [w.rule_kind for w in again] == ["hazmat_off_route"]


def test_a_trip_on_its_route_raises_nothing(city: City, engine: Engine) -> None:
    under_way(city)
    engine.changed()
    slightly = [
        (ts, lat + 0.003 * (i % 2), lon, s)
        for i, (ts, lat, lon, s) in enumerate(drive(T0, _lons(120.6, 120.7)))
    ]
    assert engine.batch(Fixes()(slightly)) == []  # 330 m either side: within the 500 m allowed


def test_a_track_jittering_on_the_allowed_distance_raises_nothing(city: City, engine: Engine) -> None:
    under_way(city)
    engine.changed()
    # 480 m and 540 m north in turn: beyond 500 m every other fix, never 3 in a row nor 550 m out.
    jitter = [
        (ts, LAT + (0.00432 if i % 2 else 0.00486), lon, s)
        for i, (ts, lat, lon, s) in enumerate(drive(T0, _lons(120.6, 120.7)))
    ]
    assert engine.batch(Fixes()(jitter)) == []


def test_fixes_of_other_trackers_and_other_records_are_not_the_rules_business(
    city: City, engine: Engine
) -> None:
    under_way(city)
    engine.changed()
    fixes = Fixes()(_trip_with_excursion(range(3, 8)))
    other = fixes.with_columns(device=pl.lit("TRK-OTHER"))
    heartbeats = fixes.with_columns(kind=pl.lit("heartbeat"))
    assert engine.batch(other) == []
    assert engine.batch(heartbeats) == []


def test_a_delivered_shipment_is_no_longer_watched(city: City, engine: Engine) -> None:
    shipment_id = under_way(city)
    city.shipments.deliver(OFFICER, shipment_id, DeliverIn(quantity=20, unit="t"), resource="t")
    engine.changed()
    assert engine.batch(Fixes()(_trip_with_excursion(range(3, 8)))) == []


# --- long stop ---------------------------------------------------------------------------------


def _stop(start: datetime, lon: float, minutes: int) -> list[tuple[datetime, float, float, float | None]]:
    return [(start + timedelta(minutes=m), LAT, lon, 0.0) for m in range(0, minutes + 1, 5)]


def test_a_long_stop_in_a_depot_raises_nothing_and_outside_it_raises_one(city: City, engine: Engine) -> None:
    shipment_id = under_way(city)
    add_zone(city, "permitted_stop", "depot", "城西停车场", "C1", DEPOT)
    engine.changed()
    make = Fixes()

    assert engine.batch(make(_stop(T0, 120.62, 45))) == []  # 45 minutes inside the depot
    assert engine.batch(make(drive(T0 + timedelta(minutes=50), [120.625, 120.63]))) == []
    stop = make(_stop(T0 + timedelta(minutes=60), 120.64, 45))  # 45 minutes by the road
    [warning] = engine.batch(stop)

    assert warning.rule_kind == "hazmat_long_stop"
    assert (
        warning.dedup_key == f"long_stop:{shipment_id}:{int((T0 + timedelta(minutes=60)).timestamp() * 1000)}"
    )
    first, last = stop["event_id"][0], stop["event_id"][7]  # the stop began; 35 minutes in: past 30
    assert [e.event_id for e in warning.evidence] == [first, last]
    assert warning.facts["stopped_min"] == 35.0
    assert engine.batch(make(_stop(T0 + timedelta(minutes=110), 120.64, 10))) == []  # same stop: said once


# --- restricted zone ---------------------------------------------------------------------------


def test_driving_through_a_school_zone_is_one_warning_naming_it(city: City, engine: Engine) -> None:
    shipment_id = under_way(city)
    zone_id = add_zone(city, "restricted", "school", "实验小学", "C2", SCHOOL)
    engine.changed()
    fixes = Fixes()(drive(T0, _lons(120.670, 120.690, 0.0005), every_s=5))

    [warning] = [w for w in engine.batch(fixes) if w.rule_kind == "hazmat_restricted_zone"]

    assert warning.facts["zone"] == {"id": zone_id, "name": "实验小学", "category": "school", "area_id": "C2"}
    assert warning.dedup_key.startswith(f"restricted:{shipment_id}:{zone_id}:")
    # From the first fix inside until one clearly out again (the fix on the east edge is not yet).
    assert [e.lon for e in warning.evidence] == [120.6795, 120.68, 120.6805, 120.681]
    assert Ref("hazmat_zone", str(zone_id)) in warning.refs


# --- time window ---------------------------------------------------------------------------------


def test_moving_before_the_departure_window_is_one_warning_and_waiting_is_none(
    city: City, engine: Engine
) -> None:
    under_way(city, depart_from=T0 + timedelta(hours=2), depart_until=T0 + timedelta(hours=3))
    engine.changed()
    make = Fixes()
    assert engine.batch(make(_stop(T0, 120.60, 20))) == []  # parked at the consignor: fine
    early = make(drive(T0 + timedelta(minutes=25), [120.601, 120.602]))
    [warning] = engine.batch(early)
    assert warning.rule_kind == "hazmat_outside_window"
    assert [e.event_id for e in warning.evidence] == early["event_id"].to_list()
    assert warning.facts["fixes_outside"] == 2
    assert engine.batch(make(drive(T0 + timedelta(minutes=30), [120.603]))) == []  # said once


# --- speeding ----------------------------------------------------------------------------------


def test_each_run_of_speeding_fixes_is_one_warning(city: City, engine: Engine) -> None:
    under_way(city)
    engine.changed()
    make = Fixes()
    points = [
        (T0 + timedelta(seconds=30 * i), LAT, 120.6 + 0.004 * i, v)
        for i, v in enumerate([70, 95, 100, 70, 90, None])
    ]
    fixes = make(points)

    found = engine.batch(fixes)

    assert [(w.rule_kind, w.facts["top_speed_kmh"], len(w.evidence)) for w in found] == [
        ("hazmat_speeding", 100.0, 2),
        ("hazmat_speeding", 90.0, 1),
    ]
    carried_on = make([(T0 + timedelta(minutes=5), LAT, 120.63, 92.0)])
    assert engine.batch(carried_on) == []  # the run of fix 4 goes on (no speed is no evidence)


# --- silence -----------------------------------------------------------------------------------


def test_a_terminal_silent_mid_trip_is_one_warning_per_silence(city: City, engine: Engine) -> None:
    under_way(city)  # departed at T0
    engine.changed()
    make = Fixes()
    fix = make([(T0 + timedelta(minutes=5), LAT, 120.61, 50.0)])
    engine.batch(fix)

    assert engine.tick(T0 + timedelta(minutes=14)) == []
    [warning] = engine.tick(T0 + timedelta(minutes=16))
    assert warning.rule_kind == "hazmat_silent_terminal"
    assert [e.event_id for e in warning.evidence] == fix["event_id"].to_list()
    assert warning.facts["silent_min"] == 11.0
    assert engine.tick(T0 + timedelta(minutes=20)) == []
    engine.batch(make([(T0 + timedelta(minutes=21), LAT, 120.62, 50.0)]))
    assert [w.rule_kind for w in engine.tick(T0 + timedelta(minutes=40))] == ["hazmat_silent_terminal"]


# --- quantities ----------------------------------------------------------------------------------


def test_a_delivery_short_of_the_load_is_one_warning_and_one_within_tolerance_none(
    city: City, engine: Engine
) -> None:
    short = under_way(city)
    city.shipments.deliver(OFFICER, short, DeliverIn(quantity=19_500), resource="t")
    engine.changed()

    [warning] = engine.tick(T0 + timedelta(hours=3))

    assert (warning.rule_kind, warning.subject) == ("hazmat_quantity_mismatch", str(short))
    assert warning.facts["difference_kg"] == -500
    assert warning.evidence[0].area == "C2"  # the consignee's, where it was delivered
    fine = under_way(city, loaded_t=5)
    city.shipments.deliver(OFFICER, fine, DeliverIn(quantity=4_990), resource="t")  # 10 kg: within 0.5 %
    engine.changed()
    assert engine.tick(T0 + timedelta(hours=4)) == []


def test_a_count_that_does_not_match_the_ledger_is_one_warning(city: City, engine: Engine) -> None:
    city.stock.count(OFFICER, city.site_a, CountIn(un_number="1203", quantity=29.5, unit="t"), resource="t")
    engine.changed()

    [warning] = engine.tick(T0 + timedelta(hours=1))

    assert (warning.rule_kind, warning.subject_kind, warning.subject) == (
        "hazmat_stock_unreconciled",
        "hazmat_site",
        str(city.site_a),
    )
    assert (warning.facts["declared_kg"], warning.facts["ledger_kg"]) == (29_500, 30_000)
    assert warning.evidence[0].area == "C1"
    city.stock.count(OFFICER, city.site_a, CountIn(un_number="1203", quantity=30_000.5), resource="t")
    engine.changed()
    assert engine.tick(T0 + timedelta(hours=2)) == []


# --- into alerts -------------------------------------------------------------------------------


def test_an_off_route_warning_becomes_an_alert_of_the_station_where_it_happened_and_shows_on_the_shipment(
    session_factory: sessionmaker[Session], clock: ManualClock
) -> None:
    alerts = AlertService(session_factory=session_factory, clock=clock)
    city = build_city(session_factory, clock, alerts)
    engine = Engine(session_factory, clock)
    shipment_id = under_way(city)
    engine.changed()

    alerts.apply_findings(engine.batch(Fixes()(_trip_with_excursion(range(14, 18)))))

    [alert] = alerts.list_alerts()
    assert (alert.rule_kind, alert.station_id, alert.area_id) == ("hazmat_off_route", "S2", "C2")
    [warning] = city.shipments.get(OFFICER, shipment_id, resource="t").warnings
    assert (warning.alert_id, warning.rule_kind) == (alert.id, "hazmat_off_route")
