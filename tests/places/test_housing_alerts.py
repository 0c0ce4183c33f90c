"""Housing warnings on the real engine path: the platform's rules, its fact sources, its alert service."""

from __future__ import annotations

from datetime import timedelta

from safecity.alerts.query import AlertFilter
from safecity.platform import Platform
from safecity.registry import RegistryChanged
from tests.conftest import T0
from tests.places.town import Swipes, build_town
from tests.web.conftest import platform, schema_db  # noqa: F401  (the same fixtures)


def test_housing_findings_become_alerts_routed_to_the_community_station(platform: Platform) -> None:  # noqa: F811
    town = build_town(platform.session_factory, platform.pseudonyms)
    platform.hub.emit([RegistryChanged(what="places")])  # what the use cases announce after commit
    swipes = Swipes()
    stranger = town.cards["U"]
    batch = swipes(
        [{"subject": stranger, "code": "denied", "ts": T0 + timedelta(minutes=i)} for i in range(5)]
    )

    findings = platform.rules.evaluate(batch, T0 + timedelta(minutes=5))
    platform.handle_findings(findings)

    alerts = {a.rule: a for a in platform.alerts.list_alerts(AlertFilter())}
    assert set(alerts) == {"housing-denied-attempts", "housing-unknown-card"}
    denied = alerts["housing-denied-attempts"]
    assert denied.rule_kind == "housing_denied_attempts" and denied.station_id == "S1"
    assert denied.area_id == "C1" and denied.first_device == "D1"
    unknown = platform.alerts.get(alerts["housing-unknown-card"].id)
    assert unknown.alert.subject == stranger and unknown.alert.subject_kind == "id_card"
    assert len(unknown.evidence) == 5
    platform.engine.dispose()


def test_a_dormant_tenant_warning_texts_the_landlord(platform: Platform) -> None:  # noqa: F811
    from safecity.registry.models import Person

    town = build_town(platform.session_factory, platform.pseudonyms)
    with platform.session_factory() as s, s.begin():
        landlord = s.get(Person, town.person_ids["L"])
        assert landlord is not None
        landlord.phone = "13800138000"
    platform.hub.emit([RegistryChanged(what="places")])
    platform.rules.tick(T0)  # the rules start counting silence now

    findings = platform.rules.tick(T0 + timedelta(days=8))
    platform.handle_findings(findings)

    dormant = [f for f in findings if f.rule_kind == "housing_dormant_tenant"]
    assert len(dormant) == 4  # nobody swiped for eight days
    notices = platform.alerts.pending_notices(limit=20)
    assert len(notices) == 4 and {n.address for n in notices} == {"13800138000"}
    assert any("flat 101, 1号楼" in n.body and "check them out" in n.body for n in notices)
    platform.engine.dispose()


def test_swipes_sent_as_the_wire_contract_says_reach_the_housing_rules_as_pseudonyms(
    platform: Platform,  # noqa: F811
) -> None:
    import json

    from safecity import registry
    from safecity.ingest import Part

    town = build_town(platform.session_factory, platform.pseudonyms)
    with platform.session_factory() as s, s.begin():
        registry.list_person(
            s, person_id=town.person_ids["T3"], reported_by="o", basis="warrant 7", owner="o", now=T0
        )
    platform.devices.invalidate()
    platform.hub.emit([RegistryChanged(what="places"), RegistryChanged(what="watchlist")])
    at = (T0 + timedelta(minutes=1)).isoformat()
    events = [  # what a door controller sends: the card's number, its decision and why
        {
            "id": f"D1-{i}",
            "kind": "door_swipe",
            "ts": at,
            "subject": town.numbers[who],
            "code": code,
            "attrs": {"reason": reason, "wl_version": 7, "buffered": False},
        }
        for i, (who, code, reason) in enumerate(
            (("T3", "granted", "listed"), ("U", "denied", "not_listed"), ("U", "denied", "not_listed"))
        )
    ]
    body = "\n".join(json.dumps(e) for e in events).encode()

    results, records = platform.ingest.process([Part(body=body, device_id="D1", source="http")])
    assert results[0].stored == 3, results
    platform.handle_findings(platform.rules.evaluate(records, T0 + timedelta(minutes=2)))

    alerts = {a.rule: a for a in platform.alerts.list_alerts(AlertFilter())}
    assert set(alerts) == {"wanted-person-at-door", "housing-unknown-card"}
    assert alerts["wanted-person-at-door"].subject == town.cards["T3"]  # the pseudonym, as rules see it
    assert alerts["housing-unknown-card"].subject == town.cards["U"]
    assert not any(town.numbers[n] in str(a) for a in alerts.values() for n in ("T3", "U"))
    platform.engine.dispose()
