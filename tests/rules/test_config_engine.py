"""Rules files are checked with clear errors; the engine isolates a failing rule; backtests count."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safecity.core.clock import ManualClock
from safecity.rules import DEFAULT_RULES_FILE, RuleEngine, RulesError, build_rules, load_rules, parse_rules
from safecity.rules.backtest import backtest
from safecity.rules.config import RuleConfig
from safecity.rules.hotlist import HotlistRule
from tests.conftest import T0
from tests.rules.conftest import records, report


def test_packaged_rules_are_valid() -> None:
    assert [r.kind for r in load_rules(DEFAULT_RULES_FILE).rules] == [
        "hotlist",
        "tag_tamper",
        "device_offline",
        "community_intrusion",
        "plate_clone",
        "plate_mismatch",  # forged plates against the vehicle registry
        "plate_unregistered",
        "community_unregistered_vehicle",
        "hotlist",  # wanted-person-at-door: the places capability's housing warnings follow
        "housing_denied_attempts",
        "housing_unknown_card",
        "housing_many_compounds",
        "housing_group_renting",
        "housing_dormant_tenant",
        "housing_unusual_hours",
        "shop_armed_breach",
        "device_offline",  # door controllers
        "door_whitelist_behind",
        "wearer_sos",  # the tracking capability's elderly locators (docs/wearers.md)
        "wearer_fall",
        "wearer_left_safe_zone",
        "wearer_no_fix",
        "wearer_low_battery",
        "hazmat_off_route",  # the tracking capability's hazardous-chemical warnings
        "hazmat_long_stop",
        "hazmat_restricted_zone",
        "hazmat_outside_window",
        "hazmat_speeding",
        "hazmat_silent_terminal",
        "hazmat_quantity_mismatch",
        "hazmat_stock_unreconciled",
    ]


def test_every_problem_is_reported_with_its_place() -> None:
    text = """
version: 1
rules:
  - name: Bad Name
    kind: hotlst
  - name: offline
    kind: device_offline
    params: {minutes: -1, colour: red}
  - name: offline
    kind: tag_tamper
"""
    with pytest.raises(RulesError) as info:
        parse_rules(text, source="rules.yaml")
    problems = info.value.problems
    assert any(p.startswith("rules[0] (Bad Name).name") for p in problems)
    assert any("rules[0] (Bad Name).kind" in p for p in problems)
    assert any("rules[1] (offline).params.minutes" in p for p in problems)
    assert any("rules[1] (offline).params.colour: Extra inputs" in p for p in problems)
    assert any("rules[2] (offline): the name is used twice" in p for p in problems)


def test_no_rule_may_alert_on_face_matches_unreviewed() -> None:
    """A face hit reaches units only once a face reviewer confirms it (recognition's review queue)."""
    text = "rules: [{name: faces, kind: hotlist, params: {lists: [fugitive], record_kinds: [face_match]}}]"
    with pytest.raises(RulesError) as info:
        parse_rules(text, source="rules.yaml")
    expected = "face_match: a face hit reaches units only once a face reviewer"
    assert any(expected in p for p in info.value.problems)


@pytest.mark.parametrize("text", ["::: not yaml", "- a list", "version: 2\nrules: []"])
def test_unreadable_files_are_refused(text: str) -> None:
    with pytest.raises(RulesError):
        parse_rules(text)


class Exploding:
    name, kind = "boom", "test"

    def evaluate(self, batch, facts, now):
        raise RuntimeError("bug")

    def tick(self, facts, now):
        return []


def test_a_failing_rule_does_not_stop_the_others(session_factory, bike_id, facts) -> None:
    report(session_factory, bike_id, T0)
    rules = [Exploding(), *build_rules(parse_rules("rules: [{name: s, kind: hotlist}]"))]
    engine = RuleEngine(rules, facts=facts, clock=ManualClock(T0 + timedelta(minutes=5)))
    assert [f.rule for f in engine.evaluate(records([{}]))] == ["s"]


def test_backtest_counts_warnings_without_raising_them(session_factory, bike_id, facts) -> None:
    report(session_factory, bike_id, T0)
    day = records([{"ts": T0 + timedelta(minutes=m), "event_id": f"e{m}"} for m in (-30, 5, 65, 600)])
    rule = HotlistRule(RuleConfig(name="stolen-bike", kind="hotlist"))
    out = backtest(
        rule,
        scan=lambda a, b: day.lazy(),
        facts=facts,
        start=T0 - timedelta(hours=1),
        end=T0 + timedelta(hours=12),
    )
    assert out.records == 4
    assert out.findings == 3  # the read before the report never matches
    assert out.warnings == 1 and out.by_day == {"2026-11-22": 1}


async def test_engine_keeps_consuming_across_quiet_periods(session_factory, bike_id, facts) -> None:
    import asyncio

    from safecity.bus import RECORDS, MemoryBus

    report(session_factory, bike_id, T0)
    bus = MemoryBus()
    engine = RuleEngine(
        build_rules(parse_rules("rules: [{name: s, kind: hotlist}]")),
        facts=facts,
        clock=ManualClock(T0 + timedelta(minutes=5)),
        flush_ms=10,
    )
    seen: list[str] = []
    task = asyncio.create_task(
        engine.run(
            bus.subscribe(RECORDS, group="rules"),
            lambda found: seen.extend(f.evidence[-1].event_id for f in found),
            tick_s=0.02,
        )
    )
    for i in range(3):  # each batch arrives after the engine timed out waiting at least once
        await bus.publish(RECORDS, records([{"event_id": f"e{i}"}]))
        for _ in range(100):
            if len(seen) > i:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    task.cancel()
    assert seen == ["e0", "e1", "e2"]
