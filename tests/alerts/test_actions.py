"""Alert desk use cases: refused outside the caller's areas, changing nothing then; audited when allowed."""

from __future__ import annotations

import dataclasses
import json

import msgspec
import pytest
from sqlalchemy.orm import Session, sessionmaker

import safecity.security.models  # noqa: F401  (the audit tables for create_all)
from safecity.alerts import AlertFilter, AlertService, actions
from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.core.finding import Ref
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.errors import AccessDenied
from safecity.security.service import Security

from .conftest import City, MakeFinding

RESOURCE = "POST /api/v1/alerts/x/acknowledge"


@pytest.fixture
def security(sessions: sessionmaker[Session], clock: ManualClock, city: City) -> Security:
    """The audit trail and area hierarchy over the alert tests' city."""
    return Security(sessions, clock, token_key=b"k" * 32)


def caller(security: Security, *home: str, name: str = "duty-3") -> Context:
    """A dispatcher of these areas (expanded as a signed-in account's are); city-wide without any."""
    return Context(
        actor=name,
        role="dispatcher",
        unit="Wuma duty desk",
        account_id=1,
        city_wide=not home,
        areas=security.areas.tree().expand(home),
        home_areas=home,
    )


def records(security: Security, action: str) -> list[dict[str, object]]:
    """The audit records of one action, oldest first, as the trail stored them."""
    with security.session_factory() as session:
        found = audit.search(session, AuditFilter(action=action))
    return [
        {
            "actor": r.actor,
            "resource": r.resource,
            "outcome": r.outcome,
            "status": r.status,
            "purpose": r.purpose,
            "subjects": json.loads(r.subjects),
            "result_count": r.result_count,
            "detail": json.loads(r.detail),
        }
        for r in reversed(found)
    ]


@pytest.fixture
def alert_id(service: AlertService, make_finding: MakeFinding, city: City) -> str:
    """An alert raised in community C1 (station S1) about the stolen bike and its owner."""
    finding = make_finding("RS-1", 0)
    finding = dataclasses.replace(finding, refs=(*finding.refs, Ref("person", str(city.owner_id))))
    return service.apply_findings([finding])[0].alert_id


def test_a_step_outside_the_callers_areas_is_refused_and_changes_nothing(
    service: AlertService, security: Security, alert_id: str
) -> None:
    elsewhere = caller(security, "S2")

    with pytest.raises(AccessDenied) as refused:
        actions.acknowledge_alert(service, security, elsewhere, alert_id, note="mine", resource=RESOURCE)

    assert refused.value.code == "outside_area"
    assert refused.value.message == (
        f"alert {alert_id} belongs to S1, outside the areas your account covers (S2)"
    )
    assert service.get(alert_id).alert.status == "new"
    assert len(service.get(alert_id).steps) == 1
    assert records(security, "alerts.acknowledge") == []


def test_acknowledging_records_the_step_by_the_caller_and_audits_whom_it_concerns(
    service: AlertService, security: Security, alert_id: str, city: City
) -> None:
    view = actions.acknowledge_alert(
        service, security, caller(security, "S1"), alert_id, note="on it", resource=RESOURCE
    )

    assert view.status == "acknowledged"
    assert service.get(alert_id).steps[-1].by == "duty-3"
    assert records(security, "alerts.acknowledge") == [
        {
            "actor": "duty-3",
            "resource": RESOURCE,
            "outcome": "allowed",
            "status": 200,
            "purpose": None,
            "subjects": sorted([f"tag:{city.tag}", f"alert:{alert_id}", f"person:{city.owner_id}"]),
            "result_count": None,
            "detail": {},
        }
    ]


def test_closing_is_audited_with_its_outcome(
    service: AlertService, security: Security, alert_id: str
) -> None:
    ctx = caller(security, "C1", name="patrol-12")  # the community's officer reaches its alerts

    closed = actions.close_alert(
        service, security, ctx, alert_id, outcome="false_alarm", note="misread", resource=RESOURCE
    )

    assert (closed.status, closed.outcome) == ("closed", "false_alarm")
    assert [r["detail"] for r in records(security, "alerts.close")] == [{"outcome": "false_alarm"}]


def test_reading_an_alert_is_audited_with_the_alert_as_its_basis(
    service: AlertService, security: Security, alert_id: str, make_finding: MakeFinding
) -> None:
    service.apply_findings([make_finding("RS-2", 4)])

    detail = actions.read_alert(service, security, caller(security), alert_id, resource="GET /a")

    assert len(detail.evidence) == 2
    [record] = records(security, "alerts.read")
    assert (record["purpose"], record["result_count"]) == ("alert response", 2)
    with pytest.raises(AccessDenied):
        actions.read_alert(service, security, caller(security, "S2"), alert_id, resource="GET /a")
    assert len(records(security, "alerts.read")) == 1  # the refusal is the catcher's to audit


def test_export_is_cap_and_audited_only_when_allowed(
    service: AlertService, security: Security, alert_id: str
) -> None:
    message = actions.export_alert(service, security, caller(security, "S1"), alert_id, resource="GET /c")

    assert message.startswith(b"<?xml")
    with pytest.raises(AccessDenied):
        actions.export_alert(service, security, caller(security, "S2"), alert_id, resource="GET /c")
    assert [r["resource"] for r in records(security, "alerts.export")] == ["GET /c"]


def test_a_community_caller_may_filter_by_the_station_answerable_for_it(
    service: AlertService, security: Security, alert_id: str
) -> None:
    guard = caller(security, "C1", name="guard-1")

    assert [a.id for a in actions.list_alerts(service, security, guard, AlertFilter(station_id="S1"))] == [
        alert_id
    ]
    with pytest.raises(AccessDenied) as refused:
        actions.list_alerts(service, security, guard, AlertFilter(station_id="S2"))
    assert refused.value.message == "station S2 belongs to S2, outside the areas your account covers (C1)"
    assert actions.list_alerts(service, security, caller(security, "S2")) == []


def test_webhooks_created_and_deleted_are_audited_with_their_id(
    service: AlertService, security: Security
) -> None:
    commander = msgspec.structs.replace(
        caller(security, name="commander-1"), role="commander", permissions=frozenset({"alerts.read"})
    )

    hook, secret = actions.create_webhook(
        service,
        security,
        commander,
        url="https://control.example/hook",
        rules=["stolen_bike"],
        resource="POST /w",
    )
    actions.delete_webhook(service, security, commander, hook.id, resource="DELETE /w")

    assert len(secret) == 64
    assert service.list_webhooks() == []
    assert [r["detail"] for r in records(security, "webhooks.create")] == [
        {"webhook": hook.id, "url": "https://control.example/hook"}
    ]
    assert [r["detail"] for r in records(security, "webhooks.delete")] == [{"webhook": hook.id}]


def test_only_a_caller_who_reads_alerts_owns_a_webhook(service: AlertService, security: Security) -> None:
    """Issue 9 item 4: a webhook delivers what its owner may read; a role reading no alerts gets none."""
    administrator = msgspec.structs.replace(caller(security, name="admin-1"), role="administrator")

    with pytest.raises(AccessDenied) as refused:
        actions.create_webhook(
            service, security, administrator, url="https://control.example/h", resource="POST /w"
        )

    assert refused.value.code == "forbidden"
    assert service.list_webhooks() == []
