"""Alert service: dedup and paths, routing, owner notices, lifecycle, queries and notices."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts import (
    AlertFilter,
    AlertNotFound,
    AlertService,
    ChangeType,
    InvalidAlertInput,
    TransitionNotAllowed,
)
from safecity.alerts.models import Alert, AlertEvidence, OutboxNotice
from safecity.bus import ALERTS
from safecity.core.clock import ManualClock
from safecity.core.finding import AlertFollower, Evidence, Finding, PersonNotice, RaisedAlert, Ref

from .conftest import OWNER_PHONE, T0, City, MakeFinding

Published = list[tuple[str, dict[str, Any]]]


def test_stolen_bike_passing_three_stations_is_one_alert_with_a_three_point_path(
    service: AlertService, make_finding: MakeFinding
) -> None:
    first = service.apply_findings([make_finding("RS-1", 0)])
    service.apply_findings([make_finding("RS-2", 5)])
    changes = service.apply_findings([make_finding("RS-3", 12)])

    assert [c.type for c in first] == [ChangeType.RAISED]
    assert [c.type for c in changes] == [ChangeType.UPDATED]
    assert changes[0].alert_id == first[0].alert_id
    detail = service.get(first[0].alert_id)
    assert [e.device for e in detail.evidence] == ["RS-1", "RS-2", "RS-3"]
    assert detail.alert.hits == 3
    assert detail.alert.first_seen_at == T0
    assert detail.alert.last_seen_at == T0 + timedelta(minutes=12)
    assert detail.path["geometry"] == {
        "type": "LineString",
        "coordinates": [[120.6501, 28.0001], [120.6601, 28.0101], [120.6701, 28.0201]],
    }
    assert detail.path["properties"]["event_ids"] == ["ev-RS-1-0", "ev-RS-2-5", "ev-RS-3-12"]


def test_evidence_is_ordered_by_time_even_when_it_arrives_late(
    service: AlertService, make_finding: MakeFinding
) -> None:
    raised = service.apply_findings([make_finding("RS-3", 20)])
    service.apply_findings([make_finding("RS-1", 3)])

    detail = service.get(raised[0].alert_id)
    assert [e.device for e in detail.evidence] == ["RS-1", "RS-3"]
    assert detail.alert.first_seen_at == T0 + timedelta(minutes=3)
    assert detail.alert.corr_id == "corr-RS-1-3"  # the first sighting's, in event time


@pytest.mark.parametrize(
    ("later", "earlier", "station", "area", "was"),
    [
        (("RS-3", 20), ("RS-1", 3), "S1", "C1", "S2"),
        (("RS-1", 20), ("RS-3", 3), "S2", "C2", "S1"),
        (("RS-3", 20), ("RS-9", 3), "CC", "C9", "S2"),
    ],
)
def test_an_earlier_sighting_uploaded_late_becomes_the_first_and_moves_the_alert_to_its_station(
    service: AlertService,
    make_finding: MakeFinding,
    published: Published,
    later: tuple[str, int],
    earlier: tuple[str, int],
    station: str,
    area: str,
    was: str,
) -> None:
    """A station uploads an earlier read after another station's later read raised the alarm:
    the alert (same id) is where the bike was first seen, in event time (issue 9, item 18)."""
    raised = service.apply_findings([make_finding(*later)])[0]
    service.acknowledge(raised.alert_id, by="officer-1")

    [change] = service.apply_findings([make_finding(*earlier)])

    assert (change.type, change.alert_id, change.station_id) == (ChangeType.UPDATED, raised.alert_id, station)
    detail = service.get(raised.alert_id)
    alert = detail.alert
    device, minutes = earlier
    assert (alert.first_device, alert.area_id, alert.station_id) == (device, area, station)
    assert (alert.corr_id, alert.first_seen_at) == (
        f"corr-{device}-{minutes}",
        T0 + timedelta(minutes=minutes),
    )
    assert (alert.status, alert.hits) == ("acknowledged", 2)
    assert detail.routing["station_id"] == station
    assert detail.routing["via"] == ("fallback" if station == "CC" else "area")
    assert detail.path["properties"]["devices"] == [device, later[0]]
    step = detail.steps[-1]
    assert (step.from_status, step.to_status, step.by) == ("acknowledged", "acknowledged", "rule:stolen_bike")
    assert device in step.note and f"from {was} to {station}" in step.note
    notice = published[-1][1]
    assert (notice["type"], notice["alert_id"], notice["station_id"]) == (
        "AlertUpdated",
        raised.alert_id,
        station,
    )
    assert (notice["first_device"], notice["rerouted_from"]) == (device, was)


def test_a_later_sighting_keeps_the_first_place_and_the_station(
    service: AlertService, make_finding: MakeFinding, published: Published
) -> None:
    raised = service.apply_findings([make_finding("RS-3", 3)])[0]
    service.apply_findings([make_finding("RS-1", 20)])

    detail = service.get(raised.alert_id)
    assert (detail.alert.first_device, detail.alert.station_id) == ("RS-3", "S2")
    assert [s.to_status for s in detail.steps] == ["new"]
    assert published[-1][1]["rerouted_from"] is None


def test_redelivered_finding_adds_nothing_and_says_nothing(
    service: AlertService, make_finding: MakeFinding, published: Published
) -> None:
    finding = make_finding("RS-1", 0)
    raised = service.apply_findings([finding])
    again = service.apply_findings([finding])

    assert again == []
    assert service.get(raised[0].alert_id).alert.hits == 1
    assert len(published) == 1


def test_findings_for_one_bike_in_one_batch_merge_into_one_alert(
    service: AlertService, make_finding: MakeFinding, sessions: sessionmaker[Session]
) -> None:
    changes = service.apply_findings(
        [make_finding("RS-1", 0), make_finding("RS-2", 1), make_finding("RS-1", 0)]
    )

    assert [c.type for c in changes] == [ChangeType.RAISED]
    assert changes[0].new_evidence == 2
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        assert s.scalar(select(func.count()).select_from(AlertEvidence)) == 2


def test_a_read_after_close_opens_a_new_alert(service: AlertService, make_finding: MakeFinding) -> None:
    first = service.apply_findings([make_finding("RS-1", 0)])[0]
    service.close(first.alert_id, by="officer-7", outcome="confirmed", note="bike recovered")
    second = service.apply_findings([make_finding("RS-2", 30)])

    assert [c.type for c in second] == [ChangeType.RAISED]
    assert second[0].alert_id != first.alert_id
    assert service.get(first.alert_id).alert.hits == 1


def test_alert_is_routed_to_the_station_answerable_for_the_first_reading(
    service: AlertService, make_finding: MakeFinding
) -> None:
    raised = service.apply_findings([make_finding("RS-3", 0)])[0]

    detail = service.get(raised.alert_id)
    assert raised.station_id == "S2"
    assert detail.routing["station_name"] == "Nanhui Police Station"
    assert detail.routing["area_id"] == "C2"
    assert detail.routing["via"] == "area"


@pytest.mark.parametrize(("device", "area"), [("RS-9", ""), ("RS-1", None)])
def test_alert_without_a_station_goes_to_the_command_centre_and_says_so(
    service: AlertService, make_finding: MakeFinding, device: str, area: str | None
) -> None:
    raised = service.apply_findings([make_finding(device, 0, area=area)])[0]

    detail = service.get(raised.alert_id)
    assert raised.station_id == "CC"
    assert detail.routing["via"] == "fallback"
    assert "command centre" in detail.routing["reason"]


def test_owner_of_a_stolen_bike_gets_a_queued_sms(
    service: AlertService, make_finding: MakeFinding, city: City, sessions: sessionmaker[Session]
) -> None:
    raised = service.apply_findings([make_finding("RS-1", 0)])[0]
    service.apply_findings([make_finding("RS-2", 5)])  # updates do not text the owner again

    notices = service.pending_notices()
    assert len(notices) == 1
    sms = notices[0]
    assert (sms.alert_id, sms.recipient_person_id, sms.channel, sms.address) == (
        raised.alert_id,
        city.owner_id,
        "sms",
        OWNER_PHONE,
    )
    assert "Base station RS-1, Wuma Community" in sms.body
    assert "2024-05-01 08:00 UTC" in sms.body
    assert "Wuma Police Station" in sms.body
    assert raised.alert_id in sms.body

    service.mark_notice(sms.id, sent=True)
    assert service.pending_notices() == []
    with sessions() as s:
        stored = s.get(OutboxNotice, sms.id)
        assert stored is not None
        assert stored.status == "sent"
        assert stored.attempts == 1


def test_failed_sms_stays_pending_until_attempts_run_out(
    service: AlertService, make_finding: MakeFinding
) -> None:
    service.apply_findings([make_finding("RS-1", 0)])
    notice_id = service.pending_notices()[0].id
    for _ in range(4):
        service.mark_notice(notice_id, sent=False, error="gateway timeout")
    assert [n.id for n in service.pending_notices()] == [notice_id]
    failed = service.mark_notice(notice_id, sent=False, error="gateway timeout")
    assert failed.status == "failed"
    assert service.pending_notices() == []


def test_phone_number_never_appears_in_logs(
    service: AlertService, make_finding: MakeFinding, capsys: pytest.CaptureFixture[str]
) -> None:
    service.apply_findings([make_finding("RS-1", 0)])
    service.mark_notice(service.pending_notices()[0].id)

    out = capsys.readouterr()
    assert "owner notices queued" in out.out + out.err
    assert OWNER_PHONE not in out.out + out.err
    assert "138****5678" in out.out + out.err


def test_finding_without_bike_facts_queues_no_notice(
    service: AlertService, make_finding: MakeFinding
) -> None:
    service.apply_findings(
        [make_finding("RS-1", 0, ebike_id=None), make_finding("RS-2", 0, tag="FFFF0000", ebike_id=999)]
    )
    assert service.pending_notices() == []


def test_lifecycle_moves_forward_and_records_every_step(
    service: AlertService, make_finding: MakeFinding, clock: ManualClock
) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    clock.advance(timedelta(minutes=1))
    assert service.acknowledge(alert_id, by="duty-officer-3", note="on it").status == "acknowledged"
    clock.advance(timedelta(minutes=1))
    assert service.dispatch(alert_id, by="duty-officer-3", note="patrol 12 sent").status == "dispatched"
    clock.advance(timedelta(minutes=10))
    closed = service.close(alert_id, by="patrol-12", outcome="confirmed", note="bike recovered")

    assert (closed.status, closed.outcome) == ("closed", "confirmed")
    steps = service.get(alert_id).steps
    assert [(s.from_status, s.to_status, s.by) for s in steps] == [
        (None, "new", "rule:stolen_bike"),
        ("new", "acknowledged", "duty-officer-3"),
        ("acknowledged", "dispatched", "duty-officer-3"),
        ("dispatched", "closed", "patrol-12"),
    ]
    assert steps[-1].outcome == "confirmed"
    assert steps[-1].note == "bike recovered"
    assert steps[-1].at == T0 + timedelta(hours=1, minutes=12)


def test_a_new_alert_can_be_closed_at_once_as_a_false_alarm(
    service: AlertService, make_finding: MakeFinding
) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    closed = service.close(alert_id, by="duty-officer-3", outcome="false_alarm", note="tag misread")
    assert (closed.status, closed.outcome) == ("closed", "false_alarm")


@pytest.mark.parametrize(
    ("steps", "refused", "current"),
    [
        ([], "dispatch", "new"),
        (["acknowledge"], "acknowledge", "acknowledged"),
        (["acknowledge", "dispatch"], "acknowledge", "dispatched"),
        (["close"], "acknowledge", "closed"),
        (["close"], "close", "closed"),
    ],
)
def test_steps_out_of_order_are_refused_naming_the_current_status(
    service: AlertService, make_finding: MakeFinding, steps: list[str], refused: str, current: str
) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    for step in steps:
        _act(service, step, alert_id)

    with pytest.raises(TransitionNotAllowed) as info:
        _act(service, refused, alert_id)
    assert info.value.current == current
    assert current in str(info.value)
    assert len(service.get(alert_id).steps) == 1 + len(steps)


def _act(service: AlertService, step: str, alert_id: str) -> None:
    if step == "close":
        service.close(alert_id, by="x", outcome="unverified")
    else:
        getattr(service, step)(alert_id, by="x")


def test_unknown_alert_and_bad_inputs_are_named(service: AlertService, make_finding: MakeFinding) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    with pytest.raises(AlertNotFound):
        service.acknowledge("nope", by="x")
    with pytest.raises(AlertNotFound):
        service.get("nope")
    with pytest.raises(InvalidAlertInput) as info:
        service.close(alert_id, by="x", outcome="maybe")
    assert info.value.field == "outcome"
    with pytest.raises(InvalidAlertInput):
        service.acknowledge(alert_id, by="  ")
    with pytest.raises(InvalidAlertInput) as info:
        service.list_alerts(AlertFilter(status="archived"))
    assert info.value.field == "status"
    with pytest.raises(InvalidAlertInput):
        service.list_alerts(AlertFilter(limit=0))


def test_every_change_is_announced_on_the_alerts_topic(
    service: AlertService, make_finding: MakeFinding, published: Published
) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    service.apply_findings([make_finding("RS-2", 5)])
    service.acknowledge(alert_id, by="duty-officer-3")

    assert [topic for topic, _ in published] == [ALERTS] * 3
    raised, updated, moved = (n for _, n in published)
    assert raised["type"] == "AlertRaised"
    assert raised["station_id"] == "S1"
    assert raised["status"] == "new"
    assert raised["corr_id"] == "corr-RS-1-0"
    assert raised["rule"] == "stolen_bike"
    assert raised["at"] == "2024-05-01T09:00:00+00:00"
    assert updated["type"] == "AlertUpdated"
    assert updated["hits"] == 2
    assert updated["new_evidence"] == 1
    assert moved["type"] == "AlertTransitioned"
    assert (moved["from_status"], moved["to_status"], moved["by"]) == (
        "new",
        "acknowledged",
        "duty-officer-3",
    )


def test_list_filters_by_status_station_rule_and_time(
    service: AlertService, make_finding: MakeFinding
) -> None:
    a = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    b = service.apply_findings([make_finding("RS-3", 10, tag="0000FFFF", ebike_id=None)])[0].alert_id
    c = service.apply_findings([make_finding("RS-3", 20, tag="0000EEEE", rule="other", ebike_id=None)])[0]
    service.acknowledge(a, by="x")

    assert [v.id for v in service.list_alerts()] == [c.alert_id, b, a]
    assert [v.id for v in service.list_alerts(AlertFilter(status="acknowledged"))] == [a]
    assert [v.id for v in service.list_alerts(AlertFilter(station_id="S2", rule="stolen_bike"))] == [b]
    assert [v.id for v in service.list_alerts(AlertFilter(since=T0 + timedelta(minutes=5)))] == [
        c.alert_id,
        b,
    ]
    assert [v.id for v in service.list_alerts(AlertFilter(limit=1, offset=1))] == [b]


def test_precision_counts_outcomes_per_rule_and_per_first_device(
    service: AlertService, make_finding: MakeFinding
) -> None:
    tags = ["00000001", "00000002", "00000003", "00000004", "00000005"]
    ids = [
        service.apply_findings([make_finding(dev, i, tag=t, ebike_id=None)])[0].alert_id
        for i, (t, dev) in enumerate(zip(tags, ["RS-1", "RS-1", "RS-1", "RS-2", "RS-2"], strict=True))
    ]
    service.close(ids[0], by="x", outcome="confirmed")
    service.close(ids[1], by="x", outcome="confirmed")
    service.close(ids[2], by="x", outcome="false_alarm")
    service.close(ids[3], by="x", outcome="unverified")

    (rule,) = service.precision("rule")
    assert (rule.key, rule.confirmed, rule.false_alarm, rule.unverified, rule.open) == (
        "stolen_bike",
        2,
        1,
        1,
        1,
    )
    assert rule.precision == pytest.approx(2 / 3)
    by_device = {r.key: r for r in service.precision("device")}
    assert by_device["RS-1"].precision == pytest.approx(2 / 3)
    assert by_device["RS-2"].precision is None  # nothing judged real or false yet
    assert (by_device["RS-2"].unverified, by_device["RS-2"].open) == (1, 1)


def test_alert_with_one_located_reading_has_a_point_path(
    service: AlertService, make_finding: MakeFinding
) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    assert service.get(alert_id).path["geometry"] == {"type": "Point", "coordinates": [120.6501, 28.0001]}


def test_device_offline_finding_without_evidence_still_raises_and_routes(service: AlertService) -> None:
    finding = Finding(
        rule="device_offline",
        rule_kind="silence",
        severity="medium",
        title="Device offline",
        subject_kind="device",
        subject="RS-2",
        dedup_key="device:RS-2",
        at=T0,
        evidence=(),
    )
    raised = service.apply_findings([finding])[0]

    detail = service.get(raised.alert_id)
    assert detail.alert.first_seen_at == T0
    assert detail.evidence == []
    assert detail.path["geometry"] is None
    assert raised.station_id == "CC"


def test_a_burst_of_ten_thousand_findings_is_applied_in_bulk(
    service: AlertService, sessions: sessionmaker[Session]
) -> None:
    def finding(i: int) -> Finding:
        tag = f"{i:08X}"
        ev = Evidence(
            event_id=f"b-{i}",
            corr_id=f"c-{i}",
            kind="rfid_read",
            subject=tag,
            device="RS-1" if i % 2 else "RS-3",
            ts=T0 + timedelta(seconds=i),
            lat=28.0,
            lon=120.6,
            area="C1" if i % 2 else "C2",
        )
        return Finding(
            rule="stolen_bike",
            rule_kind="hotlist",
            severity="high",
            title="Stolen e-bike tag read",
            subject_kind="tag",
            subject=tag,
            dedup_key=f"tag:{tag}",
            at=ev.ts,
            evidence=(ev,),
        )

    burst = [finding(i) for i in range(10_000)]
    started = time.process_time()
    changes = service.apply_findings(burst)
    raised_s = time.process_time() - started
    started = time.process_time()
    again = service.apply_findings(burst[:5000])
    repeat_s = time.process_time() - started

    assert len(changes) == 10_000
    assert again == []
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 10_000
        stations = dict(s.execute(select(Alert.station_id, func.count()).group_by(Alert.station_id)).all())
    assert stations == {"S1": 5_000, "S2": 5_000}
    # CPU time, not wall time: the machine is shared. Generous bounds; see the report for measurements.
    assert raised_s < 8
    assert repeat_s < 4


async def test_async_publish_runs_on_the_callers_loop_in_order(
    sessions: sessionmaker[Session], clock: ManualClock, make_finding: MakeFinding
) -> None:
    seen: list[str] = []

    async def publish(topic: str, notice: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append(notice["type"])

    svc = AlertService(session_factory=sessions, clock=clock, publish=publish)
    alert_id = svc.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    # A worker thread has no loop and none was given: that notice is logged and counted as unpublished.
    await asyncio.to_thread(svc.apply_findings, [make_finding("RS-2", 1)])
    svc.acknowledge(alert_id, by="x")
    await svc.flush_notices()

    assert seen == ["AlertRaised", "AlertTransitioned"]


async def test_async_publish_from_a_worker_thread_uses_the_platform_loop(
    sessions: sessionmaker[Session], clock: ManualClock, make_finding: MakeFinding
) -> None:
    seen: list[str] = []

    async def publish(topic: str, notice: dict[str, Any]) -> None:
        seen.append(notice["type"])

    svc = AlertService(
        session_factory=sessions, clock=clock, publish=publish, loop=asyncio.get_running_loop()
    )
    await asyncio.to_thread(svc.apply_findings, [make_finding("RS-1", 0)])

    assert seen == ["AlertRaised"]


def test_evidence_keeps_a_code_as_long_as_ingest_accepts(
    service: AlertService, make_finding: MakeFinding, sessions: sessionmaker[Session]
) -> None:
    """Ingest accepts codes of 256 characters; the alert's evidence must store them whole."""
    import dataclasses

    finding = make_finding("RS-1", 0)
    long_code = "E" * 256
    finding = dataclasses.replace(
        finding, evidence=(dataclasses.replace(finding.evidence[0], code=long_code),)
    )
    alert_id = service.apply_findings([finding])[0].alert_id
    with sessions() as session:
        stored = session.scalars(select(AlertEvidence.code).where(AlertEvidence.alert_id == alert_id)).one()
    assert stored == long_code


def test_followers_hear_only_of_new_alerts_about_their_entity_and_their_notices_are_queued(
    sessions: sessionmaker[Session], clock: ManualClock, make_finding: MakeFinding
) -> None:
    heard: list[list[str]] = []

    def flats(session: Session, alerts: Sequence[RaisedAlert]) -> list[PersonNotice]:
        heard.append([a.alert_id for a in alerts])
        return [
            PersonNotice(a.alert_id, 42, "sms", "13800000000", f"flat {a.finding.ref('flat')}")
            for a in alerts
        ]

    service = AlertService(
        session_factory=sessions,
        clock=clock,
        fallback_station_id="CC",
        followers=[AlertFollower(name="landlords", entity="flat", notices=flats)],
    )
    bike = make_finding("RS-1", 0)  # references an e-bike: no follower for that here
    flat = dataclasses.replace(make_finding("RS-2", 0, tag="0000AAAA"), refs=(Ref("flat", "F-7"),))
    raised = {c.alert_id for c in service.apply_findings([bike, flat])}
    service.apply_findings(
        [dataclasses.replace(flat, evidence=make_finding("RS-3", 9, tag="0000AAAA").evidence)]
    )

    [[flat_alert]] = heard  # once, for the new alert only: the update is not news to followers
    assert flat_alert in raised
    [notice] = service.pending_notices()
    assert (notice.alert_id, notice.recipient_person_id, notice.body) == (flat_alert, 42, "flat F-7")
    assert service.get(flat_alert).alert.refs == [["flat", "F-7"]]
