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
