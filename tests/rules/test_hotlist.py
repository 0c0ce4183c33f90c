"""The hotlist rule: stolen tags seen by stations, and only while the entry is in force."""

from __future__ import annotations

from datetime import timedelta

from safecity import registry
from safecity.registry import WatchStatus
from safecity.rules.config import RuleConfig
from safecity.rules.hotlist import HotlistRule
from tests.conftest import T0
from tests.rules.conftest import TAG, records, report

RULE = HotlistRule(RuleConfig(name="stolen-bike", kind="hotlist", severity="high"))


def test_stolen_tag_read_raises_one_finding_with_facts(session_factory, bike_id, facts) -> None:
    entry_id = report(session_factory, bike_id, T0)
    batch = records(
        [{}, {"device": "BS-2", "ts": T0 + timedelta(minutes=3), "event_id": "x"}, {"subject": "1111111111"}]
    )
    [finding] = RULE.evaluate(batch, facts, T0 + timedelta(minutes=5))
    assert finding.dedup_key == f"stolen_bike:{entry_id}"
    assert [e.device for e in finding.evidence] == ["BS-1", "BS-2"]
    assert finding.facts["basis"] == "complaint 42" and finding.facts["ebike_id"] == bike_id
    assert finding.params["lists"] == ["stolen_bike"]
    # What the alert's followers find it by: the bike, and its owner for the audit trail's subjects.
    assert finding.ref("ebike") == str(bike_id)
    assert finding.ref("person") == str(finding.facts["owner_person_id"])


def test_reads_before_the_report_do_not_match(session_factory, bike_id, facts) -> None:
    report(session_factory, bike_id, T0 + timedelta(hours=1))
    assert RULE.evaluate(records([{}]), facts, T0 + timedelta(hours=2)) == []


def test_recovered_bike_stops_matching(session_factory, bike_id, facts) -> None:
    entry_id = report(session_factory, bike_id, T0)
    with session_factory() as s, s.begin():
        registry.close_entry(
            s,
            entry_id=entry_id,
            status=WatchStatus.RECOVERED,
            by="officer-7",
            note="found",
            now=T0 + timedelta(seconds=30),
        )
    facts.invalidate()
    assert RULE.evaluate(records([{}]), facts, T0 + timedelta(minutes=2)) == []


def test_unlisted_tags_and_other_kinds_never_match(session_factory, bike_id, facts) -> None:
    report(session_factory, bike_id, T0)
    batch = records(
        [{"kind": "heartbeat", "subject_kind": "device", "subject": TAG}, {"subject": "2222222222"}]
    )
    assert RULE.evaluate(batch, facts, T0 + timedelta(minutes=2)) == []
