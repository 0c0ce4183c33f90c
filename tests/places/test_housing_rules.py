"""Housing warnings on planted incidents, and silence on ordinary traffic (places/rules/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.finding import Finding, Ref
from safecity.places.facts import FACT_SOURCE, RELOAD_S, PlaceFacts
from safecity.places.models import COMPOUND, FLAT, TENANCY, Tenancy
from safecity.places.rules import dormant as dormant_rule
from safecity.places.rules import occupancy as occupancy_rule
from safecity.rules import FactSource, LiveFacts, RuleConfig, build_rules, parse_rules
from safecity.rules.config import DEFAULT_RULES_FILE
from safecity.security.pseudonym import Pseudonymizer
from tests.conftest import T0
from tests.places.town import Swipes, Town, build_town, id_number
from tests.rules.conftest import DEVICES

SHANGHAI = timedelta(hours=8)


@pytest.fixture
def town(session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> Town:
    return build_town(session_factory, pseudonymizer)


@pytest.fixture
def facts(session_factory: sessionmaker[Session], town: Town) -> LiveFacts:
    # Reloaded at once when places change (the platform's source waits up to RELOAD_S between loads).
    return LiveFacts(session_factory, lambda: DEVICES, ttl_s=0, sources=[FactSource("places", PlaceFacts)])


@pytest.fixture
def swipes() -> Swipes:
    return Swipes()


def rule(kind: str, **params: Any) -> Any:
    """One rule of a housing kind, built the way the engine builds it."""
    [built] = build_rules(
        parse_rules(f"rules: [{{name: r, kind: {kind}, params: {params!r}}}]".replace("'", ""))
    )
    return built


def make(kind: str, **params: Any) -> Any:
    from safecity.rules.kinds import rule_kinds

    return rule_kinds()[kind].evaluator(RuleConfig(name=kind.replace("_", "-"), kind=kind, params=params))


# --- the fact source --------------------------------------------------------------------------


def test_swipes_are_enriched_with_the_door_place_and_the_card_tenancy(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    batch = swipes(
        [
            {"subject": town.cards["T1"], "device": "D1"},
            {"subject": town.cards["V1"], "device": "D1"},
            {"subject": town.cards["T1"], "device": "G2"},
            {"subject": town.cards["U"], "device": "D2", "code": "denied"},
            {"kind": "heartbeat", "subject_kind": "device", "subject": "D1"},
        ]
    )
    places: PlaceFacts = facts.source("places")

    out = places.swipes(batch)

    assert out.select("compound_id", "building_id", "flat_id", "via", "known", "granted").rows() == [
        ("CP1", "B1", town.flats["101"], "tenant", True, True),
        ("CP1", "B1", town.flats["101"], "visitor", True, True),
        ("CP2", None, None, None, True, True),
        ("CP2", "B2", None, None, False, False),
    ]
    assert places.swipes(batch) is out  # one enrichment per batch, shared by the rules


def test_a_new_tenancy_reaches_the_facts_after_places_change(
    session_factory: sessionmaker[Session], facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    places: PlaceFacts = facts.source("places")
    assert places.view().tenants.height == 4
    with session_factory() as s, s.begin():
        s.add(
            Tenancy(
                flat_id=town.flats["102"],
                person_id=town.person_ids["U"],
                starts_at=T0,
                registered_at=T0,
                registered_by="t",
                registered_via="typed",
            )
        )
    places.invalidate()  # what RegistryChanged("places") does

    out = places.swipes(swipes([{"subject": town.cards["U"], "device": "D1"}]))

    assert out.select("flat_id", "known").row(0) == (town.flats["102"], True)


def test_a_card_living_in_two_buildings_is_placed_in_the_one_it_swiped_at(
    session_factory: sessionmaker[Session], facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    with session_factory() as s, s.begin():  # T1 also registered in flat 201 of B2 (allowed, and warned)
        s.add(
            Tenancy(
                flat_id=town.flats["201"],
                person_id=town.person_ids["T1"],
                starts_at=T0,
                registered_at=T0,
                registered_by="t",
                registered_via="typed",
            )
        )
    places: PlaceFacts = facts.source("places")

    out = places.swipes(swipes([{"subject": town.cards["T1"], "device": d} for d in ("D1", "D2", "D3")]))

    assert out["flat_id"].to_list() == [town.flats["101"], town.flats["201"], None]


# --- repeated denied attempts -----------------------------------------------------------------


def test_five_denied_swipes_at_a_door_within_ten_minutes_raise_one_warning(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    denied = make("housing_denied_attempts", attempts=5, minutes=10)
    first = swipes(
        [{"subject": town.cards["U"], "code": "denied", "ts": T0 + timedelta(minutes=i)} for i in range(3)]
    )
    later = swipes(
        [
            {"subject": town.cards["T1"], "code": "denied", "ts": T0 + timedelta(minutes=4 + i)}
            for i in range(2)
        ]
    )

    assert denied.evaluate(first, facts, T0) == []
    [finding] = denied.evaluate(later, facts, T0 + timedelta(minutes=6))

    assert finding.rule_kind == "housing_denied_attempts" and finding.dedup_key == "denied:D1"
    assert len(finding.evidence) == 5 and finding.facts["distinct_cards"] == 2
    assert {Ref("door", "D1"), Ref(COMPOUND, "CP1"), Ref("building", "B1")} <= set(finding.refs)


def test_denied_swipes_spread_over_an_hour_or_granted_ones_raise_nothing(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    denied = make("housing_denied_attempts", attempts=5, minutes=10)
    spread = swipes(
        [
            {"subject": town.cards["U"], "code": "denied", "ts": T0 + timedelta(minutes=12 * i)}
            for i in range(6)
        ]
    )
    granted = swipes(
        [{"subject": town.cards["T1"], "ts": T0 + timedelta(minutes=80, seconds=i)} for i in range(20)]
    )

    assert denied.evaluate(spread, facts, T0) == []
    assert denied.evaluate(granted, facts, T0) == []


def test_a_burst_early_in_a_controllers_offline_backlog_is_still_found(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    """Found by the demo: a backlog delivered as one batch lost bursts older than the window before
    its newest swipe, so a door that was tried five times while offline went unwarned."""
    denied = make("housing_denied_attempts", attempts=5, minutes=10)
    burst = [
        {"subject": town.cards["U"], "code": "denied", "ts": T0 + timedelta(minutes=i)} for i in range(5)
    ]
    # Later in the same backlog: one denied swipe at another door, two hours on.
    after = [{"subject": town.cards["U"], "device": "D2", "code": "denied", "ts": T0 + timedelta(hours=2)}]
    [finding] = denied.evaluate(swipes(burst + after), facts, T0 + timedelta(hours=2, minutes=5))
    assert len(finding.evidence) == 5 and finding.dedup_key == "denied:D1"


def test_a_report_delivered_twice_counts_once(facts: LiveFacts, town: Town, swipes: Swipes) -> None:
    denied = make("housing_denied_attempts", attempts=3, minutes=10)
    batch = swipes(
        [{"subject": town.cards["U"], "code": "denied", "ts": T0 + timedelta(minutes=i)} for i in range(2)]
    )

    assert denied.evaluate(batch, facts, T0) == []
    assert denied.evaluate(batch, facts, T0) == []  # the controller's retry of the same reports


# --- unknown cards ----------------------------------------------------------------------------


def test_a_card_no_place_ever_registered_trying_doors_is_warned_of(
    pseudonymizer: Pseudonymizer, facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    unknown = make("housing_unknown_card", attempts=2, minutes=60)
    stranger = pseudonymizer.pseudonym(id_number(77))  # not even in the people registry
    batch = swipes(
        [
            {"subject": town.cards["U"], "code": "denied", "device": "D1"},
            {"subject": town.cards["U"], "code": "denied", "device": "G2", "ts": T0 + timedelta(minutes=5)},
            {"subject": stranger, "code": "denied", "device": "D3"},
            {"subject": stranger, "code": "denied", "device": "D3", "ts": T0 + timedelta(minutes=1)},
            *({"subject": town.cards[n]} for n in ("T1", "T2", "V1", "L")),
        ]
    )

    findings = {f.subject: f for f in unknown.evaluate(batch, facts, T0 + timedelta(minutes=6))}

    assert set(findings) == {town.cards["U"], stranger}
    u = findings[town.cards["U"]]
    assert u.subject_kind == "id_card" and u.facts["doors"] == ["D1", "G2"]
    assert u.facts["compounds"] == ["CP1", "CP2"] and u.facts["registered_anywhere"] is False
    assert {Ref(COMPOUND, "CP1"), Ref(COMPOUND, "CP2")} <= set(u.refs)


def test_one_swipe_of_an_unknown_card_is_below_a_count_of_two(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    unknown = make("housing_unknown_card", attempts=2, minutes=60)
    assert unknown.evaluate(swipes([{"subject": town.cards["U"], "code": "denied"}]), facts, T0) == []


# --- many compounds in a day ------------------------------------------------------------------


def test_one_card_entering_four_compounds_in_a_day_is_warned_of_at_the_tick(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    roaming = make("housing_many_compounds", compounds=4)
    batch = swipes(
        [{"subject": town.cards["T4"], "device": f"G{n}", "ts": T0 + timedelta(hours=n)} for n in range(1, 5)]
        + [
            {"subject": town.cards["T1"], "device": f"G{n}", "ts": T0 + timedelta(hours=n)}
            for n in range(1, 4)
        ]
    )

    [finding] = roaming.evaluate(batch, facts, T0 + timedelta(hours=5))

    assert finding.subject == town.cards["T4"] and finding.facts["compounds"] == ["CP1", "CP2", "CP3", "CP4"]
    # T4 lives in CP2: entering home counts, and the entries elsewhere are the evidence.
    assert finding.facts["home_compound"] == "CP2" and finding.facts["entered_away"] == ["CP1", "CP3", "CP4"]
    assert [e.device for e in finding.evidence] == ["G1", "G3", "G4"]
    assert {Ref(COMPOUND, f"CP{n}") for n in range(1, 5)} <= set(finding.refs)
    # The same compounds again: no second warning; a fifth compound extends it.
    again_g1 = swipes([{"subject": town.cards["T4"], "device": "G1", "ts": T0 + timedelta(hours=6)}])
    assert roaming.evaluate(again_g1, facts, T0) == []
    g5 = swipes([{"subject": town.cards["T4"], "device": "G5", "ts": T0 + timedelta(hours=7)}])
    [again] = roaming.evaluate(g5, facts, T0)
    assert again.dedup_key == finding.dedup_key and again.facts["compound_count"] == 5


def test_a_card_without_a_home_counts_every_compound(
    pseudonymizer: Pseudonymizer, facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    roaming = make("housing_many_compounds", compounds=4)
    lent = pseudonymizer.pseudonym(id_number(91))
    batch = swipes([{"subject": lent, "device": f"G{n}", "ts": T0 + timedelta(hours=n)} for n in range(1, 5)])

    [finding] = roaming.evaluate(batch, facts, T0)

    assert finding.facts["home_compound"] is None and finding.facts["compound_count"] == 4


def test_compounds_are_counted_per_local_day(facts: LiveFacts, town: Town, swipes: Swipes) -> None:
    roaming = make("housing_many_compounds", compounds=4)
    midnight = datetime(2026, 11, 23, tzinfo=UTC) - SHANGHAI  # 00:00 in Wenzhou
    batch = swipes(
        [
            {"subject": town.cards["T4"], "device": f"G{n}", "ts": midnight + timedelta(minutes=m)}
            for n, m in ((1, -30), (2, -20), (3, 20), (4, 30))
        ]
    )
    assert roaming.evaluate(batch, facts, midnight) == []


# --- group renting ----------------------------------------------------------------------------


def _days(swipes: Swipes, cards: list[str], device: str, days: int, *, start: datetime = T0) -> pl.DataFrame:
    return swipes(
        [
            {"subject": c, "device": device, "ts": start + timedelta(days=d, minutes=i)}
            for d in range(days)
            for i, c in enumerate(cards)
        ]
    )


@pytest.fixture(params=["bincount", "group_by"])
def counting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Residents counted both ways: by bincount (dense ids) and by group-by (ids too large for one)."""
    if request.param == "group_by":
        monkeypatch.setattr(occupancy_rule, "_DENSE_KEYS", -1)
    return str(request.param)


def test_a_flat_with_more_residents_than_its_capacity_is_warned_of(
    facts: LiveFacts, town: Town, swipes: Swipes, counting: str
) -> None:
    renting = make("housing_group_renting", days=7, min_days=3)
    residents = [town.cards[n] for n in ("T1", "T2", "T3", "V1", "V2")]
    renting.evaluate(_days(swipes, residents, "D1", 4), facts, T0)
    once = swipes(
        [{"subject": town.cards["V3"], "device": "D1", "ts": T0 + timedelta(days=3)}]
    )  # a one-off visit
    renting.evaluate(once, facts, T0)

    [finding] = renting.tick(facts, T0 + timedelta(days=4))

    assert finding.subject_kind == FLAT and finding.subject == str(town.flats["101"])
    assert finding.facts["capacity"] == 2 and finding.facts["residents"] == 4
    assert finding.facts["registered_tenants"] == 2 and finding.facts["residents_by_visitor_pass"] == 2
    assert {Ref(FLAT, str(town.flats["101"])), Ref(COMPOUND, "CP1"), Ref("building", "B1")} <= set(
        finding.refs
    )
    # Evidence: the residents' entries of the last day, at the building's door.
    assert finding.evidence and {e.device for e in finding.evidence} == {"D1"}
    assert {e.subject for e in finding.evidence} <= set(residents)


def test_a_building_with_more_residents_than_its_flats_hold_is_warned_of(
    facts: LiveFacts, town: Town, swipes: Swipes, pseudonymizer: Pseudonymizer, counting: str
) -> None:
    renting = make("housing_group_renting", days=7, min_days=3, levels=["building"])
    lent = pseudonymizer.pseudonym(id_number(90))  # a card let in by the building door, attributed to no flat
    residents = [town.cards[n] for n in ("T1", "T2", "T3", "V1", "V2")] + [lent]
    renting.evaluate(_days(swipes, residents, "D1", 3), facts, T0)

    [finding] = renting.tick(facts, T0 + timedelta(days=3))

    assert finding.subject == "B1" and finding.facts["capacity"] == 5 and finding.facts["residents"] == 6
    assert finding.facts["residents_not_registered_here"] == 1


def test_residents_of_days_gone_by_are_not_counted(facts: LiveFacts, town: Town, swipes: Swipes) -> None:
    renting = make("housing_group_renting", days=7, min_days=3)
    crowd = [town.cards[n] for n in ("T1", "T2", "V1", "V2")]
    renting.evaluate(_days(swipes, crowd, "D1", 3), facts, T0)  # a crowded week, ten days ago
    later = T0 + timedelta(days=10)
    renting.evaluate(_days(swipes, crowd[:2], "D1", 3, start=later), facts, later)

    assert renting.tick(facts, later + timedelta(days=3)) == []


def test_tenants_living_within_capacity_raise_nothing(
    facts: LiveFacts, town: Town, swipes: Swipes, counting: str
) -> None:
    renting = make("housing_group_renting", days=7, min_days=3)
    renting.evaluate(_days(swipes, [town.cards[n] for n in ("T1", "T2", "T3")], "D1", 7), facts, T0)
    renting.evaluate(_days(swipes, [town.cards["T4"]], "D2", 7), facts, T0)
    # Visitors of the flat on one or two days only are not residents.
    renting.evaluate(_days(swipes, [town.cards["V1"], town.cards["V2"]], "D1", 2), facts, T0)
    assert renting.tick(facts, T0 + timedelta(days=7)) == []


# --- dormant tenants --------------------------------------------------------------------------


def test_a_tenant_silent_for_seven_days_is_warned_of_once_with_the_landlord(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    dormant = make("housing_dormant_tenant", days=7)
    dormant.evaluate(swipes([{"subject": town.cards["T3"], "ts": T0}]), facts, T0)
    recent = T0 + timedelta(days=7, hours=12)
    dormant.evaluate(swipes([{"subject": town.cards[n], "ts": recent} for n in ("T1", "T2")]), facts, recent)

    findings = dormant.tick(facts, T0 + timedelta(days=8))

    by_tenancy = {f.subject: f for f in findings}
    assert set(by_tenancy) == {str(town.tenancies["T3"]), str(town.tenancies["T4"])}
    t3 = by_tenancy[str(town.tenancies["T3"])]
    assert t3.facts["landlord_id"] == town.landlord_id and t3.facts["silent_days"] == 8.0
    assert t3.evidence[0].subject == town.cards["T3"] and t3.evidence[0].ts == T0
    assert t3.evidence[0].device == "D1" and Ref("door", "D1") in t3.refs
    assert {
        Ref(TENANCY, str(town.tenancies["T3"])),
        Ref(FLAT, str(town.flats["102"])),
        Ref(COMPOUND, "CP1"),
    } <= set(t3.refs)
    t4 = by_tenancy[str(town.tenancies["T4"])]
    assert t4.evidence[0].code == "no_swipe" and t4.facts["last_swipe"] is None
    # Reported once; a check later finds nothing new.
    assert dormant.tick(facts, T0 + timedelta(days=9)) == []


def test_a_late_backlog_or_a_reload_of_places_never_makes_a_live_tenant_dormant(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    dormant = make("housing_dormant_tenant", days=7)
    recent = T0 + timedelta(days=7, hours=12)
    dormant.evaluate(swipes([{"subject": town.cards["T1"], "ts": recent}]), facts, T0)
    facts.source("places").invalidate()  # a registration elsewhere reloads the view: rows renumbered
    old = swipes([{"subject": town.cards["T1"], "ts": T0, "device": "G1"}])  # a controller's backlog
    dormant.evaluate(old, facts, recent)

    reported = {f.subject for f in dormant.tick(facts, T0 + timedelta(days=8))}

    assert str(town.tenancies["T1"]) not in reported
    assert str(town.tenancies["T2"]) in reported


def test_a_dormant_tenants_evidence_is_their_latest_swipe_through_compactions_and_reloads(
    facts: LiveFacts, town: Town, swipes: Swipes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dormant_rule, "COMPACT_PER_CARD", 0)  # compact after every batch
    monkeypatch.setattr(dormant_rule, "COMPACT_ROWS", 0)
    dormant = make("housing_dormant_tenant", days=7)
    first = [
        {"subject": town.cards["T1"], "ts": T0, "event_id": "T1-a"},
        {"subject": town.cards["T2"], "ts": T0 + timedelta(minutes=1), "event_id": "T2-a"},
        *(
            {"subject": town.cards["T3"], "ts": T0 + timedelta(minutes=2 + i), "event_id": f"T3-a{i}"}
            for i in range(5)
        ),
    ]
    dormant.evaluate(swipes(first), facts, T0)  # mostly superseded rows: compacted at once
    facts.source("places").invalidate()  # each batch on a reloaded view: card rows renumbered
    later = T0 + timedelta(hours=1)
    dormant.evaluate(
        swipes([{"subject": town.cards["T2"], "ts": later, "device": "G1", "event_id": "T2-b"}]), facts, later
    )
    facts.source("places").invalidate()
    late = swipes([{"subject": town.cards["T3"], "ts": T0, "event_id": "T3-late"}])
    dormant.evaluate(late, facts, later)  # an older backlog never replaces the latest

    findings = dormant.tick(facts, T0 + timedelta(days=8))

    latest = {f.subject: (f.evidence[0].event_id, f.evidence[0].device, f.evidence[0].ts) for f in findings}
    assert latest[str(town.tenancies["T1"])] == ("T1-a", "D1", T0)
    assert latest[str(town.tenancies["T2"])] == ("T2-b", "G1", later)
    assert latest[str(town.tenancies["T3"])] == ("T3-a4", "D1", T0 + timedelta(minutes=6))


# --- unusual hours ----------------------------------------------------------------------------


def _local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 1, hour, minute, tzinfo=UTC) + timedelta(days=day) - SHANGHAI


def test_an_entry_at_an_hour_the_building_never_sees_is_warned_of(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    hours = make("housing_unusual_hours", min_history=200, max_share=0.01, spread_hours=1)
    tenants = [town.cards[n] for n in ("T1", "T2", "T3")]
    history = swipes(
        [
            {"subject": c, "device": "D1", "ts": _local(d, h, 5 * i)}
            for d in range(14)
            for h in (7, 8, 18, 19, 20)
            for i, c in enumerate(tenants)
        ]
    )
    assert hours.evaluate(history, facts, T0) == []  # learning: nothing is unusual before history exists

    late = swipes([{"subject": tenants[0], "device": "D1", "ts": _local(15, 3, 10)}])
    usual = swipes([{"subject": tenants[1], "device": "D1", "ts": _local(15, 7, 40)}])
    [finding] = hours.evaluate(late, facts, T0)

    assert finding.subject == tenants[0] and finding.facts["local_hours"] == [3]
    assert finding.facts["history_entries"] == 210 and finding.facts["building_id"] == "B1"
    assert hours.evaluate(usual, facts, T0) == []


def test_a_night_shift_building_learns_its_nights(facts: LiveFacts, town: Town, swipes: Swipes) -> None:
    hours = make("housing_unusual_hours", min_history=100, max_share=0.01)
    history = swipes(
        [
            {"subject": town.cards["T4"], "device": "D2", "ts": _local(d, h, 10)}
            for d in range(30)
            for h in (2, 3, 14)
        ]
    )
    hours.evaluate(history, facts, T0)
    assert (
        hours.evaluate(
            swipes([{"subject": town.cards["T4"], "device": "D2", "ts": _local(31, 3, 5)}]), facts, T0
        )
        == []
    )


def test_a_tenant_whose_own_late_hours_are_a_habit_is_warned_of_on_the_first_night_only(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    hours = make("housing_unusual_hours", min_history=200, max_share=0.01, spread_hours=1)
    tenants = [town.cards[n] for n in ("T1", "T2", "T3")]
    day_workers = [
        {"subject": c, "device": "D1", "ts": _local(d, h, 5 * i)}
        for d in range(14)
        for h in (7, 8, 18, 19, 20)
        for i, c in enumerate(tenants)
    ]
    hours.evaluate(swipes(day_workers), facts, T0)

    warned = []
    for night in range(15, 19):  # T1 starts coming home at 23:00 (23:30 the last night: same habit)
        late = swipes(
            [{"subject": tenants[0], "device": "D1", "ts": _local(night, 23, 30 if night == 18 else 0)}]
        )
        warned += hours.evaluate(late, facts, T0)
    stranger_hour = swipes([{"subject": tenants[1], "device": "D1", "ts": _local(19, 3, 10)}])

    assert [f.facts["local_hours"] for f in warned] == [[23]]  # the first night; then it is T1's own routine
    [other] = hours.evaluate(stranger_hour, facts, T0)  # a habit is the card's own, not the building's
    assert other.subject == tenants[1]


def test_with_habits_off_every_late_night_is_warned_of(facts: LiveFacts, town: Town, swipes: Swipes) -> None:
    hours = make("housing_unusual_hours", min_history=200, max_share=0.01, spread_hours=1, habits=False)
    tenants = [town.cards[n] for n in ("T1", "T2", "T3")]
    hours.evaluate(
        swipes(
            [
                {"subject": c, "device": "D1", "ts": _local(d, h, 5 * i)}
                for d in range(14)
                for h in (7, 8, 18, 19, 20)
                for i, c in enumerate(tenants)
            ]
        ),
        facts,
        T0,
    )
    warned = [
        f
        for night in range(15, 18)
        for f in hours.evaluate(
            swipes([{"subject": tenants[0], "device": "D1", "ts": _local(night, 23)}]), facts, T0
        )
    ]
    assert len(warned) == 3


# --- watch-listed people (the hotlist over door_swipe) ----------------------------------------


def test_a_watch_listed_person_card_at_any_door_raises_the_hotlist_with_basis_and_place(
    session_factory: sessionmaker[Session], facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    [hotlist] = [
        r
        for r in build_rules(parse_rules(DEFAULT_RULES_FILE.read_text()))
        if r.name == "wanted-person-at-door"
    ]
    before = swipes([{"subject": town.cards["T3"], "device": "G3", "ts": T0 - timedelta(hours=1)}])
    with session_factory() as s, s.begin():
        entry = registry.list_person(
            s,
            person_id=town.person_ids["T3"],
            reported_by="officer-7",
            basis="warrant 2026-118",
            owner="officer-7",
            now=T0,
            valid_days=30,
        )
        entry_id = entry.id
    facts.invalidate()

    assert hotlist.evaluate(before, facts, T0) == []
    [finding] = hotlist.evaluate(
        swipes([{"subject": town.cards["T3"], "device": "D1", "ts": T0 + timedelta(minutes=1)}]), facts, T0
    )

    assert finding.dedup_key == f"wanted_person:{entry_id}" and finding.subject == town.cards["T3"]
    assert finding.facts["basis"] == "warrant 2026-118" and finding.facts["expires_at"].startswith(
        "2026-12-22"
    )
    assert finding.ref("person") == str(town.person_ids["T3"])
    assert {Ref("door", "D1"), Ref(COMPOUND, "CP1"), Ref("building", "B1")} <= set(finding.refs)
    assert town.numbers["T3"] not in str(finding)  # the number itself never reaches a warning
    # After the entry expires the card matches no more.
    assert (
        hotlist.evaluate(
            swipes([{"subject": town.cards["T3"], "ts": T0 + timedelta(days=31)}]),
            facts,
            T0 + timedelta(days=31),
        )
        == []
    )


# --- the default rules on ordinary traffic ----------------------------------------------------


def test_the_default_housing_rules_stay_silent_on_ordinary_traffic(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    rules = [
        r for r in build_rules(parse_rules(DEFAULT_RULES_FILE.read_text())) if r.kind.startswith("housing_")
    ]
    assert len(rules) == 6
    found: list[Finding] = []
    tenants = {"T1": "D1", "T2": "D1", "T3": "D1", "T4": "D2"}
    for day in range(10):
        rows = []
        for i, (tenant, door) in enumerate(tenants.items()):
            gate = door.replace("D", "G")
            rows += [
                {"subject": town.cards[tenant], "device": gate, "ts": _local(day, 7, 10 * i)},
                {"subject": town.cards[tenant], "device": door, "ts": _local(day, 7, 10 * i + 1)},
                {"subject": town.cards[tenant], "device": gate, "ts": _local(day, 19, 10 * i)},
                {"subject": town.cards[tenant], "device": door, "ts": _local(day, 19, 10 * i + 1)},
            ]
        rows.append({"subject": town.cards["L"], "device": "G1", "ts": _local(day, 10)})
        batch = swipes(rows)
        for r in rules:  # called directly: the engine would log a rule that raised and go on
            found += r.evaluate(batch, facts, _local(day, 20)) + r.tick(facts, _local(day, 21))
    assert found == []


def test_batches_without_door_swipes_pass_through_the_housing_rules(facts: LiveFacts, swipes: Swipes) -> None:
    from tests.rules.conftest import records

    rules = [
        r for r in build_rules(parse_rules(DEFAULT_RULES_FILE.read_text())) if r.kind.startswith("housing_")
    ]
    bikes = records([{}, {"kind": "heartbeat", "subject_kind": "device", "subject": "BS-1"}])
    for r in rules:  # directly: the engine would only log a rule that raised
        assert r.evaluate(bikes, facts, T0) == [] and r.evaluate(bikes.clear(), facts, T0) == []
        assert r.tick(facts, T0 + timedelta(days=1)) == []


def test_denied_attempts_can_be_counted_per_card_at_a_door(
    facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    denied = make("housing_denied_attempts", attempts=3, minutes=10, per="card_at_door")
    mixed = swipes(
        [
            {"subject": town.cards[n], "code": "denied", "ts": T0 + timedelta(minutes=i)}
            for i, n in enumerate(("U", "T1", "T2"))
        ]
    )
    assert denied.evaluate(mixed, facts, T0) == []  # three cards once each: not one card trying
    again = swipes(
        [
            {"subject": town.cards["U"], "code": "denied", "ts": T0 + timedelta(minutes=4 + i)}
            for i in range(2)
        ]
    )

    [finding] = denied.evaluate(again, facts, T0)

    assert finding.dedup_key == f"denied:D1|{town.cards['U']}" and finding.facts["distinct_cards"] == 1


def test_a_watch_listed_card_at_a_device_that_is_no_door_still_raises_without_a_place(
    session_factory: sessionmaker[Session], facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    [hotlist] = [
        r
        for r in build_rules(parse_rules(DEFAULT_RULES_FILE.read_text()))
        if r.name == "wanted-person-at-door"
    ]
    with session_factory() as s, s.begin():
        registry.list_person(
            s, person_id=town.person_ids["T1"], reported_by="o", basis="warrant 1", owner="o", now=T0
        )
    facts.invalidate()

    [finding] = hotlist.evaluate(
        swipes([{"subject": town.cards["T1"], "device": "X9", "ts": T0 + timedelta(minutes=1)}]), facts, T0
    )

    assert "places" not in finding.facts and finding.ref(COMPOUND) is None


def test_places_changing_between_two_rules_of_one_batch_mix_no_rows(
    session_factory: sessionmaker[Session], facts: LiveFacts, town: Town, swipes: Swipes
) -> None:
    dormant = make("housing_dormant_tenant", days=7)
    dormant.tick(facts, T0)
    recent = T0 + timedelta(days=7, hours=12)
    batch = swipes([{"subject": town.cards[n], "ts": recent} for n in ("T2", "T3", "T4")])
    places: PlaceFacts = facts.source("places")
    places.swipes(batch)  # an earlier rule enriched the batch
    with session_factory() as s, s.begin():  # ... then U became a tenant: the view is another
        s.add(
            Tenancy(
                flat_id=town.flats["102"],
                person_id=town.person_ids["U"],
                starts_at=recent,
                registered_at=recent,
                registered_by="t",
                registered_via="typed",
            )
        )
    places.invalidate()

    dormant.evaluate(batch, facts, recent)
    reported = {f.subject for f in dormant.tick(facts, T0 + timedelta(days=8))}

    assert reported == {str(town.tenancies["T1"])}


def test_the_platform_source_reloads_places_at_most_every_few_seconds(
    session_factory: sessionmaker[Session], town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safecity.places.facts as facts_module

    clock = [1000.0]
    monkeypatch.setattr(facts_module.time, "monotonic", lambda: clock[0])
    places: PlaceFacts = FACT_SOURCE.build(session_factory)
    first = places.view()

    places.invalidate()
    assert places.view() is first  # a registration a moment after the last load waits
    clock[0] += RELOAD_S
    assert places.view() is not first
