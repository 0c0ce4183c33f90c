"""Guardians are texted about their wearer's warnings (tracking/guardians.py), and only current guardians."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from safecity.core.finding import Evidence, Finding, RaisedAlert, Ref
from safecity.security.pseudonym import Pseudonymizer
from safecity.tracking.guardians import guardian_notices
from safecity.tracking.wearers import Wearers
from tests.conftest import T0
from tests.tracking.wearerfix import OFFICER, ListRecorder, guardian, seed_city, wearer_in


def _alert(alert_id: str, kind: str, wearer_id: int | None, last: Evidence | None) -> RaisedAlert:
    finding = Finding(
        rule=kind.replace("_", "-"),
        rule_kind=kind,
        severity="high",
        title="t",
        subject_kind="wearer",
        subject=str(wearer_id),
        dedup_key=f"{kind}:{wearer_id}",
        at=T0,
        evidence=(last,) if last else (),
        facts={"wearer": "Wearer 1"},
        refs=(Ref("wearer", str(wearer_id)),) if wearer_id is not None else (),
    )
    return RaisedAlert(alert_id, finding, last, last, "Station 1", T0)


def test_each_current_guardian_is_texted_what_happened_where_and_who_knows(
    session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    seed_city(session_factory)
    wearers = Wearers(session_factory, ListRecorder(), now=lambda: T0, pseudonymize=pseudonymizer.pseudonym)
    wearer = wearers.enrol(OFFICER, wearer_in(1), resource="/t")
    son = wearers.add_guardian(OFFICER, wearer.id, guardian(200, "13900000200"), resource="/t")
    gone = wearers.add_guardian(OFFICER, wearer.id, guardian(201, "13900000201"), resource="/t")
    wearers.remove_guardian(OFFICER, wearer.id, gone.id, resource="/t")
    fix = Evidence(
        "e1", "c1", "tracker_fix", "864717003283581", "TRK-1", T0 + timedelta(minutes=2), 28.0, 120.65, "C1"
    )
    alerts = [
        _alert("A1", "wearer_left_safe_zone", wearer.id, fix),
        _alert("A2", "wearer_no_fix", wearer.id, None),
        _alert("A3", "hotlist", None, fix),  # about no wearer
    ]

    with session_factory() as session:
        notices = guardian_notices(session, alerts)

    assert sorted((n.alert_id, n.address) for n in notices) == [
        ("A1", "13900000001"),
        ("A1", "13900000200"),
        ("A2", "13900000001"),
        ("A2", "13900000200"),
    ]
    assert {n.recipient_person_id for n in notices} == {son.person_id, notices[0].recipient_person_id}
    left = next(n.body for n in notices if n.alert_id == "A1")
    assert left == (
        "safecity: Wearer 1 left their safe zone at 11-22 16:02 near 28.00000,120.65000. "
        "Station 1 has been told, reference A1. Call them if you know where they are."
    )
    assert "has sent no position for hours at 11-22 16:00. Station 1" in next(
        n.body for n in notices if n.alert_id == "A2"
    )
