"""tag_tamper and device_offline."""

from __future__ import annotations

from datetime import timedelta

from safecity.rules.config import RuleConfig
from safecity.rules.offline import DeviceOfflineRule
from safecity.rules.tamper import TagTamperRule
from tests.conftest import T0
from tests.rules.conftest import TAG, records


def test_tamper_code_raises_a_finding_per_tag(facts) -> None:
    rule = TagTamperRule(RuleConfig(name="tag-tamper", kind="tag_tamper"))
    batch = records(
        [{"code": "tamper"}, {"code": "tamper", "event_id": "b"}, {"code": None, "subject": "1111111111"}]
    )
    [finding] = rule.evaluate(batch, facts, T0)
    assert finding.subject == TAG and len(finding.evidence) == 2


def at(minutes: int) -> dict:
    """Event and arrival time, `minutes` after T0."""
    return {"ts": T0 + timedelta(minutes=minutes), "received_at": T0 + timedelta(minutes=minutes)}


def test_silent_station_is_reported_once_and_again_after_it_returns_and_goes_silent(facts) -> None:
    rule = DeviceOfflineRule(RuleConfig(name="offline", kind="device_offline", params={"minutes": 15}))
    hb = {"kind": "heartbeat", "subject_kind": "device"}
    # noqa: E731
    rule.evaluate(
        records(
            [
                {**hb, "device": "BS-1", "subject": "BS-1", **at(0)},
                {**hb, "device": "BS-2", "subject": "BS-2", **at(0)},
            ]
        ),
        facts,
        T0,
    )
    assert rule.tick(facts, T0 + timedelta(minutes=10)) == []
    rule.evaluate(
        records([{**hb, "device": "BS-2", "subject": "BS-2", **at(12)}]),
        facts,
        T0 + timedelta(minutes=12),
    )
    [finding] = rule.tick(facts, T0 + timedelta(minutes=16))
    assert finding.subject == "BS-1" and finding.facts["silent_minutes"] == 16.0
    assert rule.tick(facts, T0 + timedelta(minutes=20)) == []  # not repeated while still silent
    rule.evaluate(
        records([{**hb, "device": "BS-1", "subject": "BS-1", **at(21)}]),
        facts,
        T0 + timedelta(minutes=21),
    )
    found = rule.tick(facts, T0 + timedelta(minutes=40))
    assert sorted(f.subject for f in found) == ["BS-1", "BS-2"]


def test_door_controllers_are_not_watched_by_a_station_rule(facts) -> None:
    rule = DeviceOfflineRule(RuleConfig(name="offline", kind="device_offline", params={"minutes": 1}))
    rule.evaluate(records([]), facts, T0)
    assert {f.subject for f in rule.tick(facts, T0 + timedelta(minutes=5))} == {"BS-1", "BS-2"}


def test_a_backlog_of_old_readings_proves_the_station_is_alive(facts) -> None:
    rule = DeviceOfflineRule(RuleConfig(name="offline", kind="device_offline", params={"minutes": 15}))
    now = T0 + timedelta(hours=1)
    old = [
        {"device": d, "subject": "0123456789", "ts": T0, "received_at": now, "event_id": d}
        for d in ("BS-1", "BS-2")
    ]
    rule.evaluate(records(old), facts, now)
    assert rule.tick(facts, now + timedelta(minutes=1)) == []
