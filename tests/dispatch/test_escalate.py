"""An alert of any rule becomes an incident in one action, keeping its evidence's place, its id and
its correlation id; the rule chooses the incident type and the severity its priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM, Context
from safecity.core.errors import AccessDenied
from safecity.core.finding import Evidence, Finding
from safecity.dispatch.errors import DispatchConflict, DispatchError
from safecity.dispatch.incidents import Incidents, kind_for_rule
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.settings import Settings
from safecity.sim.grid import Grid
from safecity.sim.roadnet import city_roads
from safecity.store import transaction

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
LAT, LON = 28.0, 120.7
OFFICER = Context(actor="officer", role="dispatcher", areas=frozenset({"C1"}))
FAR = Context(actor="far", role="dispatcher", areas=frozenset({"C9"}))


def _alert(platform: Platform, n: int, *, located: bool = True, rule_kind: str = "hotlist") -> str:
    ts = NOW - timedelta(minutes=10) + timedelta(seconds=n)
    evidence = tuple(
        Evidence(
            event_id=f"ev-{n}-{k}",
            corr_id=f"corr-{n}",
            kind="rfid_read",
            subject=f"A000000{n}",
            device="BS-1",
            ts=ts + timedelta(seconds=k),
            lat=LAT + 0.001 * k if located else None,
            lon=LON if located else None,
            area="C1",
        )
        for k in range(2)
    )
    finding = Finding(
        rule="stolen_bike",
        rule_kind=rule_kind,
        severity="high",
        title="Stolen e-bike tag read",
        subject_kind="tag",
        subject=f"A000000{n}",
        dedup_key=f"tag:A000000{n}",
        at=ts,
        evidence=evidence,
        facts={},
        params={},
    )
    return platform.alerts.apply_findings([finding])[0].alert_id


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    settings = Settings(data_dir=tmp_path)
    settings.city_dir.mkdir(parents=True)
    city_roads(Grid.centred(64, 64, lat=LAT, lon=LON), seed=1).save(settings.city_dir / "roads.npz")
    platform = Platform.build(settings, clock=ManualClock(NOW))
    ring = [
        [LON - 0.02, LAT - 0.02],
        [LON + 0.02, LAT - 0.02],
        [LON + 0.02, LAT + 0.02],
        [LON - 0.02, LAT + 0.02],
    ]
    with transaction(platform.session_factory) as session:
        session.add(Area(id="D1", kind="district", name="D1"))
        session.add(Area(id="S1", kind="station", name="S1", parent_id="D1", station_id="S1"))
        session.add(
            Area(
                id="C1",
                kind="community",
                name="C1",
                parent_id="S1",
                station_id="S1",
                boundary={"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            )
        )
    return platform


def test_an_alert_becomes_an_incident_at_its_newest_sighting_keeping_its_ids(platform: Platform) -> None:
    alert_id = _alert(platform, 1)
    incidents = platform.service(Incidents)
    incident = incidents.escalate(OFFICER, alert_id, resource="t")
    assert (incident.kind, incident.priority, incident.source) == ("theft", 1, "alert")
    assert incident.alert_id == alert_id
    assert (incident.lat, incident.lon) == pytest.approx((LAT + 0.001, LON))  # the newer of the two
    assert incident.reported_at == NOW - timedelta(minutes=10) + timedelta(seconds=1)
    assert "Stolen e-bike" in incident.description
    timeline = incidents.timeline(OFFICER, incident.id)
    assert timeline[0].detail["source"] == "alert"
    with transaction(platform.session_factory) as session:
        from safecity.dispatch.models import Incident

        assert session.get(Incident, incident.id).correlation_id == "corr-1"  # type: ignore[union-attr]
    # Once is enough: a second escalation of a live incident's alert is refused, naming it.
    with pytest.raises(DispatchConflict, match=f"is incident {incident.id} already"):
        incidents.escalate(OFFICER, alert_id, resource="t")
    # The type can be chosen; outside the caller's areas it is refused.
    other = incidents.escalate(SYSTEM, _alert(platform, 2), kind="burglary_in_progress", resource="t")
    assert other.kind == "burglary_in_progress"
    with pytest.raises(AccessDenied):
        incidents.escalate(FAR, _alert(platform, 3), resource="t")


def test_an_alert_without_a_place_is_refused_saying_so(platform: Platform) -> None:
    with pytest.raises(DispatchError, match="no evidence with a place"):
        platform.service(Incidents).escalate(OFFICER, _alert(platform, 4, located=False), resource="t")


def test_the_rule_chooses_the_incident_type() -> None:
    assert kind_for_rule("hotlist", "stolen_bike") == "theft"
    assert kind_for_rule("shop_breach", "after_hours") == "burglary_in_progress"
    assert kind_for_rule("wearer_sos", "sos") == "missing_person"
    assert kind_for_rule("device_offline", "offline") == "other"
