"""A door whose whitelist stays behind the server's (places/rules/lag.py, places/versions.py): planted
swipe reports against versions really made by places/doors.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry
from safecity.core.context import Context
from safecity.core.finding import Finding, Ref
from safecity.places.doors import Doors
from safecity.places.models import COMPOUND, Tenancy
from safecity.places.versions import NAME, DoorVersions
from safecity.rules import FactSource, LiveFacts
from safecity.security.pseudonym import Pseudonymizer
from tests.conftest import T0
from tests.places.test_housing_rules import make
from tests.places.town import Swipes, Town, build_town
from tests.rules.conftest import DEVICES


class Trail:
    """An audit trail kept in memory (rebuilding lists audits nothing; the type wants one)."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, who: Context, entry: AuditEntry) -> int:
        self.entries.append(entry)
        return len(self.entries)


@pytest.fixture
def town(session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> Town:
    return build_town(session_factory, pseudonymizer)


@pytest.fixture
def swipes() -> Swipes:
    return Swipes()


@pytest.fixture
def facts(session_factory: sessionmaker[Session], town: Town) -> LiveFacts:
    """Door lists made at T0 - 2 h (version 1), and again at T0 after T3 moved out (CP1's: version 2)."""
    clock = [T0 - timedelta(hours=2)]
    doors = Doors(session_factory, Trail(), now=lambda: clock[0])
    assert doors.rebuild(everything=True)
    clock[0] = T0
    with session_factory() as s, s.begin():
        s.execute(update(Tenancy).where(Tenancy.id == town.tenancies["T3"]).values(checked_out_at=T0))
    changed = {u.full.door: u.full.version for u in doors.rebuild(compound_ids=["CP1"])}
    assert changed == {"D1": 2, "G1": 2}
    return LiveFacts(session_factory, lambda: DEVICES, sources=[FactSource(NAME, DoorVersions)])


def report(device: str, minutes: float, version: int, **attrs: Any) -> dict[str, Any]:
    """A granted swipe reported by a controller that decided on list `version`."""
    return {
        "device": device,
        "subject": "card-1",
        "ts": T0 + timedelta(minutes=minutes),
        "attrs": json.dumps({"reason": "listed", "wl_version": version, **attrs}),
    }


def run(rule: Any, facts: LiveFacts, swipes: Swipes, rows: list[dict[str, Any]]) -> list[Finding]:
    """Each report in a batch of its own, as controllers report one by one."""
    found: list[Finding] = []
    for row in rows:
        found += rule.evaluate(swipes([row]), facts, row["ts"])
    return found


def test_the_version_source_knows_when_the_door_fell_behind(facts: LiveFacts, swipes: Swipes) -> None:
    versions: DoorVersions = facts.source(NAME)
    batch = swipes([report("D1", 5, 1), report("D1", -30, 1), report("D1", 6, 2), report("D2", 7, 1)])
    held = pl.col("attrs").str.json_path_match("$.wl_version").cast(pl.Int64)
    behind = versions.behind(batch.with_columns(held_version=held))
    # Only the first: before T0 version 1 was current, version 2 is in step, D2 never changed.
    assert behind.select("device", "held_version", "current_version", "behind_since").rows() == [
        ("D1", 1, 2, T0)
    ]


def test_a_door_that_catches_up_within_the_grace_raises_nothing(facts: LiveFacts, swipes: Swipes) -> None:
    rule = make("door_whitelist_behind", minutes=15)
    found = run(
        rule,
        facts,
        swipes,
        [
            report("D1", -30, 1),
            report("D1", 5, 1),
            report("D1", 12, 2),
            report("D1", 40, 2),
            report("G1", 50, 2),
        ],
    )
    assert found == []


def test_a_door_stuck_behind_raises_one_warning_with_its_reports(facts: LiveFacts, swipes: Swipes) -> None:
    rule = make("door_whitelist_behind", minutes=15)
    rows = [report("D1", 5, 1), report("D1", 20, 1), report("G1", 21, 2), report("D1", 40, 1)]
    found = run(rule, facts, swipes, rows)

    assert len(found) == 2  # the reports at 20 and 40 minutes: the first is within the grace
    assert {f.dedup_key for f in found} == {"whitelist-behind:D1"}  # one warning, extended
    last = found[-1]
    assert (last.subject_kind, last.subject, last.rule_kind) == ("device", "D1", "door_whitelist_behind")
    assert [e.ts for e in last.evidence] == [T0 + timedelta(minutes=m) for m in (5, 20, 40)]
    assert last.facts["held_version"] == 1 and last.facts["current_version"] == 2
    assert last.facts["behind_since"] == T0.isoformat() and last.facts["behind_minutes"] == 40.0
    assert Ref("door", "D1") in last.refs and Ref(COMPOUND, "CP1") in last.refs


def test_buffered_reports_are_the_offline_rule_s_unless_asked_for(facts: LiveFacts, swipes: Swipes) -> None:
    late = [report("D1", 30, 1, buffered=True), report("D1", 45, 1, buffered=True)]
    assert run(make("door_whitelist_behind", minutes=15), facts, swipes, late) == []
    counted = run(make("door_whitelist_behind", minutes=15, include_buffered=True), facts, swipes, late)
    assert {f.dedup_key for f in counted} == {"whitelist-behind:D1"}


def test_after_catching_up_a_new_lag_starts_a_new_episode(facts: LiveFacts, swipes: Swipes) -> None:
    rule = make("door_whitelist_behind", minutes=15)
    found = run(rule, facts, swipes, [report("D1", 20, 1), report("D1", 25, 2), report("D1", 30, 1)])
    assert len(found) == 2
    assert [e.ts for e in found[-1].evidence] == [T0 + timedelta(minutes=30)]  # the earlier episode is gone


def test_a_door_behind_the_kept_deltas_counts_from_the_oldest_kept(
    session_factory: sessionmaker[Session], town: Town, swipes: Swipes
) -> None:
    clock = [T0 - timedelta(hours=2)]
    doors = Doors(session_factory, Trail(), now=lambda: clock[0], keep_deltas=1)
    doors.rebuild(everything=True)  # version 1
    for tenant, at in (("T3", T0 - timedelta(hours=1)), ("T2", T0)):  # versions 2 and 3 of D1
        clock[0] = at
        with session_factory() as s, s.begin():
            s.execute(update(Tenancy).where(Tenancy.id == town.tenancies[tenant]).values(checked_out_at=at))
        doors.rebuild(compound_ids=["CP1"])
    versions = DoorVersions(session_factory)
    held = pl.col("attrs").str.json_path_match("$.wl_version").cast(pl.Int64)
    batch = swipes([report("D1", 10, 1), report("D1", 11, 2)]).with_columns(held_version=held)

    behind = versions.behind(batch).sort("ts")

    # Version 2's delta is gone: version 1 counts from version 3's making (later than the truth).
    assert behind.select("held_version", "current_version", "behind_since").rows() == [(1, 3, T0), (2, 3, T0)]
