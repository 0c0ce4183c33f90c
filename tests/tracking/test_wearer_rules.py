"""Wearer warnings through the real rules engine: record batches in, exact warnings out (tracking/rules/)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import ManualClock
from safecity.core.finding import Finding, Ref
from safecity.rules import LiveFacts, RuleEngine, build_rules, parse_rules
from safecity.security.pseudonym import Pseudonymizer
from safecity.tracking.wearer_facts import FACT_SOURCE, WearerFacts
from safecity.tracking.wearer_schemas import SafeZonesIn
from safecity.tracking.wearers import Wearers
from tests.conftest import T0
from tests.rules.conftest import DEVICES
from tests.tracking.wearerfix import (
    OFFICER,
    ListRecorder,
    Records,
    at,
    guardian,
    home_zone,
    seed_city,
    wearer_in,
)

RULES = """
rules:
  - {name: sos, kind: wearer_sos, severity: critical}
  - {name: fall, kind: wearer_fall, severity: critical}
  - {name: zone, kind: wearer_left_safe_zone, severity: high,
     params: {exit_margin_m: 50, enter_margin_m: 20, exit_after_fixes: 3}}
  - {name: silent, kind: wearer_no_fix, severity: medium, params: {hours: 6, check_every_minutes: 1}}
  - {name: battery, kind: wearer_low_battery, severity: low, params: {below_percent: 20, recover_percent: 40}}
"""


class City:
    """The engine over the wearers' facts, and the use cases that change them."""

    def __init__(self, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> None:
        seed_city(session_factory)
        self.wearers = Wearers(
            session_factory, ListRecorder(), now=lambda: T0, pseudonymize=pseudonymizer.pseudonym
        )
        self.facts = LiveFacts(session_factory, lambda: DEVICES, ttl_s=0, sources=[FACT_SOURCE])
        self.engine = RuleEngine(build_rules(parse_rules(RULES)), facts=self.facts, clock=ManualClock(T0))
        self.records = Records()

    def changed(self) -> None:
        """What RegistryChanged("wearers") does to the facts after a use case commits."""
        source: WearerFacts = self.facts.source("wearers")
        source.invalidate()

    def feed(self, rows: Any, now_min: float) -> list[Finding]:
        batch = rows if not isinstance(rows, list) else self.records(rows)
        return self.engine.evaluate(batch, at(now_min))


@pytest.fixture
def city(session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> City:
    return City(session_factory, pseudonymizer)


def _kinds(found: list[Finding]) -> list[str]:
    return [f.rule_kind for f in found]


# --- leaving the safe zone ---------------------------------------------------------------------


def test_a_jittering_edge_raises_one_warning_and_a_return_then_a_second_exit_raise_two(city: City) -> None:
    wearer = city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    walk = city.records.track

    # Walking about home, then jittering across the 200 m edge: never decisive, nothing.
    assert city.feed(walk("TRK-1", at(0), [100, 150, 190, 210, 195, 215]), 6) == []
    # Clearly out (60 m beyond the edge): one departure.
    [left] = city.feed(walk("TRK-1", at(10), [205, 260]), 11)
    # Out there, jittering back and forth across the edge over several batches: still the one.
    assert city.feed(walk("TRK-1", at(12), [240, 190, 230]), 14) == []
    assert city.feed(walk("TRK-1", at(15), [195, 215, 185]), 17) == []
    # Home again (a fix 100 m inside), then out a second time: a second warning.
    assert city.feed(walk("TRK-1", at(20), [100]), 20) == []
    [again] = city.feed(walk("TRK-1", at(30), [300]), 30)

    assert (left.rule_kind, left.subject_kind, left.subject) == (
        "wearer_left_safe_zone",
        "wearer",
        str(wearer.id),
    )
    assert left.dedup_key != again.dedup_key  # two alerts, not one extended
    assert [e.event_id for e in left.evidence] == ["r7", "r8"]  # the batch's fixes up to the deciding one
    assert {e.area for e in left.evidence} == {
        "C1"
    }  # routed to the wearer's station, not where it was placed
    assert left.facts["zones"] == ["home"] and left.facts["distance_m"] == pytest.approx(60, abs=1)
    assert left.facts["wearer"] == "Wearer 1" and left.facts["area_id"] == "C1"
    assert Ref("wearer", str(wearer.id)) in left.refs and Ref("device", "TRK-1") in left.refs
    assert again.facts["distance_m"] == pytest.approx(100, abs=1)


def test_a_slow_drift_out_within_the_margin_is_a_departure_at_the_third_fix(city: City) -> None:
    city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")

    found = city.feed(city.records.track("TRK-1", at(0), [150, 205, 210, 215, 220]), 5)

    assert _kinds(found) == ["wearer_left_safe_zone"]
    assert found[0].evidence[-1].event_id == "r4"  # the third outside fix in a row


def test_a_zone_out_of_its_hours_raises_nothing(city: City) -> None:
    # T0 is 16:00 in Wenzhou: the day centre applies 08:00-18:00, the evening zone 20:00-23:00 only.
    city.wearers.enrol(OFFICER, wearer_in(1, safe_zones=[home_zone(hours=["08:00-18:00"])]), resource="/t")
    city.wearers.enrol(
        OFFICER,
        wearer_in(2, devices=("TRK-2",), safe_zones=[home_zone(hours=["20:00-23:00"])]),
        resource="/t",
    )

    found = city.feed(
        city.records([{"device": d, "lat": 28.01, "lon": 120.65, "ts": at(0)} for d in ("TRK-1", "TRK-2")]), 1
    )

    assert [(f.rule_kind, f.facts["wearer"]) for f in found] == [("wearer_left_safe_zone", "Wearer 1")]


def test_invalid_fixes_and_other_trackers_are_left_out(city: City) -> None:
    city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    far = {"lat": 28.01, "lon": 120.65, "ts": at(0)}

    found = city.feed(
        [
            {**far, "attrs": '{"valid":false}'},  # no satellite lock: an old position
            {**far, "device": "TRK-3"},  # a tracker nobody wears
        ],
        1,
    )

    assert found == []


def test_the_edge_state_survives_a_reload_of_the_facts_but_new_zones_start_afresh(city: City) -> None:
    wearer = city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    assert _kinds(city.feed(city.records.track("TRK-1", at(0), [400]), 1)) == ["wearer_left_safe_zone"]

    city.wearers.add_guardian(OFFICER, wearer.id, guardian(300, "13900000003"), resource="/t")
    city.changed()
    assert city.feed(city.records.track("TRK-1", at(2), [450]), 3) == []  # still out: no second warning

    city.wearers.set_safe_zones(
        OFFICER, wearer.id, SafeZonesIn(zones=[home_zone(radius_m=300)]), resource="/t"
    )
    city.changed()
    assert _kinds(city.feed(city.records.track("TRK-1", at(4), [460]), 5)) == ["wearer_left_safe_zone"]


# --- alarms ------------------------------------------------------------------------------------


def test_an_sos_names_the_wearer_and_carries_the_alarm_and_the_fix(city: City) -> None:
    wearer = city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    alarm = {"kind": "alarm", "subject_kind": "device", "subject": "TRK-1", "code": "sos", "ts": at(1)}

    found = city.feed(
        [
            {"ts": at(0.5)},
            alarm,
            {**alarm, "code": "vibration"},
            {**alarm, "device": "TRK-3", "subject": "TRK-3"},  # not worn
        ],
        2,
    )

    [sos] = found
    assert (sos.rule, sos.severity, sos.subject, sos.dedup_key) == (
        "sos",
        "critical",
        str(wearer.id),
        f"sos:{wearer.id}",
    )
    assert [(e.kind, e.code) for e in sos.evidence] == [("tracker_fix", None), ("alarm", "sos")]
    assert sos.facts["alarms"] == 1 and sos.facts["notes"] == "dementia; walks to the river"
    assert Ref("person", str(wearer.person_id)) in sos.refs


def test_a_fall_is_its_own_warning(city: City) -> None:
    city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")

    found = city.feed([{"kind": "alarm", "subject_kind": "device", "subject": "TRK-1", "code": "fall"}], 1)

    assert [(f.rule, f.rule_kind) for f in found] == [("fall", "wearer_fall")]


def test_a_wearer_whose_consent_is_withdrawn_is_no_longer_watched(city: City) -> None:
    wearer = city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    [given] = city.wearers.consents(OFFICER, wearer.id, resource="/t")
    city.wearers.withdraw_consent(OFFICER, wearer.id, given.id, resource="/t")
    city.changed()

    found = city.feed([{"kind": "alarm", "subject": "TRK-1", "code": "sos"}, {"lat": 28.1}], 1)

    assert found == []


# --- silence -----------------------------------------------------------------------------------


def test_no_fix_for_six_hours_warns_once_per_silence(city: City) -> None:
    wearer = city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    city.engine.tick(at(0))  # the rule starts counting
    city.feed(city.records.track("TRK-1", at(60), [0]), 61)

    assert city.engine.tick(at(60 + 5 * 60)) == []  # five hours since the fix
    [silent] = city.engine.tick(at(60 + 6 * 60 + 1))
    assert city.engine.tick(at(60 + 7 * 60)) == []  # the same silence: told once

    assert (silent.rule_kind, silent.subject) == ("wearer_no_fix", str(wearer.id))
    assert [(e.event_id, e.area) for e in silent.evidence] == [("r1", "C1")]  # the last fix, routed to C1
    assert silent.facts["last_fix"] == at(60).isoformat() and silent.facts["silent_hours"] == 6.0
    city.feed(city.records.track("TRK-1", at(9 * 60), [0]), 9 * 60)
    [second] = city.engine.tick(at(9 * 60 + 6 * 60 + 1))
    assert second.dedup_key != silent.dedup_key


def test_a_wearer_never_heard_from_is_silent_from_the_rules_start(city: City) -> None:
    city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    city.engine.tick(at(0))

    [silent] = city.engine.tick(at(6 * 60 + 1))

    assert silent.facts["last_fix"] is None
    assert [(e.kind, e.code, e.area) for e in silent.evidence] == [("report", "no_fix", "C1")]


# --- battery -----------------------------------------------------------------------------------


def _beat(pct: int, minute: float) -> dict[str, Any]:
    return {
        "kind": "heartbeat",
        "subject_kind": "device",
        "subject": "TRK-1",
        "ts": at(minute),
        "attrs": f'{{"battery_pct":{pct},"position":"last_fix"}}',
    }


def test_low_battery_warns_once_per_episode_until_charged(city: City) -> None:
    wearer = city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")

    [low] = city.feed([_beat(50, 0), _beat(19, 5), _beat(15, 10)], 10)
    assert city.feed([_beat(25, 15), {"kind": "alarm", "subject": "TRK-1", "code": "low_battery"}], 15) == []
    assert city.feed([_beat(45, 20)], 20) == []  # charged: the episode ends
    [again] = city.feed([_beat(30, 25), _beat(10, 30)], 30)

    assert (low.rule_kind, low.subject, low.facts["battery_pct"]) == (
        "wearer_low_battery",
        str(wearer.id),
        19.0,
    )
    assert [e.event_id for e in low.evidence] == ["r2"]
    assert again.facts["battery_pct"] == 10.0 and again.dedup_key != low.dedup_key


def test_a_low_battery_alarm_alone_starts_an_episode(city: City) -> None:
    city.wearers.enrol(OFFICER, wearer_in(1), resource="/t")

    found = city.feed([{"kind": "alarm", "subject": "TRK-1", "code": "low_battery", "ts": at(1)}], 1)

    assert _kinds(found) == ["wearer_low_battery"] and found[0].facts["battery_pct"] is None


def test_the_shipped_rules_file_configures_every_wearer_kind() -> None:
    from safecity.rules import load_rules
    from safecity.rules.config import DEFAULT_RULES_FILE

    shipped = {r.kind: r for r in load_rules(DEFAULT_RULES_FILE).rules}

    assert {
        "wearer_sos",
        "wearer_fall",
        "wearer_left_safe_zone",
        "wearer_no_fix",
        "wearer_low_battery",
    } <= set(shipped)
    assert shipped["wearer_left_safe_zone"].params["exit_after_fixes"] == 3
    assert timedelta(hours=shipped["wearer_no_fix"].params["hours"]) == timedelta(hours=6)
