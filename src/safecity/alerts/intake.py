"""Turn a burst of findings into alerts in bulk: merge into open alerts, raise new ones, route them.

Findings are rare, but a replay or a rule change can produce thousands at once, so every lookup
(open alerts, attached evidence, stations, what followers look up) is one query per chunk, not per finding,
and rows are written with bulk inserts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import structlog
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from safecity import registry
from safecity.alerts.models import (
    EVIDENCE_COLUMNS,
    Alert,
    AlertEvidence,
    AlertStatus,
    AlertStep,
    OutboxNotice,
    Routing,
)
from safecity.alerts.notice import AlertChange, ChangeType, change_of
from safecity.alerts.outbox import follow, outbox_rows
from safecity.alerts.query import AlertSummary
from safecity.core.finding import AlertFollower, Evidence, Finding, RaisedAlert
from safecity.core.record import new_id
from safecity.store.bulk import among, chunked

log = structlog.get_logger(__name__)

TITLE_CHARS = 200  # the column's width; a longer title is cut rather than failing the whole burst
# Core tables: bulk writes and reads skip the ORM's per-object bookkeeping.
ALERTS_T = cast(Table, Alert.__table__)
EVIDENCE_T = cast(Table, AlertEvidence.__table__)
OUTBOX_T = cast(Table, OutboxNotice.__table__)
STEPS_T = cast(Table, AlertStep.__table__)


@dataclass(slots=True)
class _Group:
    """All findings of one batch that share (rule, dedup_key), evidence merged by event id."""

    first: Finding
    evidence: dict[str, Evidence] = field(default_factory=dict)
    hits: int = 0

    def add(self, finding: Finding, attached: set[str]) -> None:
        """Merge a finding, skipping evidence already attached or already merged."""
        fresh = [
            e for e in finding.evidence if e.event_id not in attached and e.event_id not in self.evidence
        ]
        for ev in fresh:
            self.evidence[ev.event_id] = ev
        # A finding without evidence cannot be deduplicated, so it always counts.
        if fresh or not finding.evidence:
            self.hits += 1


# An updated alert's own columns are what its notice is built from; the JSON facts stay behind.
_NOTICE_COLUMNS = tuple(AlertSummary.model_fields)


def _open_alert_ids(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Ids of the open alerts with these (rule, dedup_key) pairs."""
    by_rule: dict[str, list[str]] = {}
    for rule, dedup_key in keys:
        by_rule.setdefault(rule, []).append(dedup_key)
    found: dict[tuple[str, str], str] = {}
    table = ALERTS_T
    for rule, dedup_keys in by_rule.items():
        # Rule first: it leads the (rule, dedup_key) indexes, so each chunk is index lookups, not scans.
        for part in chunked(dedup_keys):
            rows = session.execute(
                select(table.c.id, table.c.dedup_key).where(
                    table.c.rule == rule,
                    among(table.c.dedup_key, part),
                    table.c.status != AlertStatus.CLOSED.value,
                )
            ).all()
            found.update(((rule, dedup_key), alert_id) for alert_id, dedup_key in rows)
    return found


def _alert_rows(session: Session, alert_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Column values (those notices need) of these alerts, as plain dicts."""
    table = ALERTS_T
    columns = [table.c[name] for name in _NOTICE_COLUMNS]
    rows: dict[str, dict[str, Any]] = {}
    for part in chunked(alert_ids):
        for row in session.execute(select(*columns).where(among(table.c.id, part))).mappings().all():
            rows[row["id"]] = dict(row)
    return rows


def _attached_events(session: Session, alert_ids: list[str]) -> dict[str, set[str]]:
    attached: dict[str, set[str]] = {a: set() for a in alert_ids}
    for part in chunked(alert_ids):
        rows = session.execute(
            select(AlertEvidence.alert_id, AlertEvidence.event_id).where(among(AlertEvidence.alert_id, part))
        )
        for alert_id, event_id in rows:
            attached[alert_id].add(event_id)
    return attached


def _route(session: Session, area_ids: Iterable[str | None]) -> dict[str | None, tuple[str | None, str]]:
    """Map each area to (station id, station name); (None, "") where no station answers for it."""
    routes: dict[str | None, tuple[str | None, str]] = {None: (None, "")}
    wanted = {a for a in area_ids if a is not None}
    for area_id, station in registry.stations_of_areas(session, area_ids=wanted).items():
        routes[area_id] = station if station is not None else (None, "")
    return routes


def _evidence_row(alert_id: str, ev: Evidence) -> dict[str, Any]:
    return {"alert_id": alert_id, **{name: getattr(ev, name) for name in EVIDENCE_COLUMNS}}


def _new_alert_row(
    group: _Group, *, now: datetime, route: tuple[str | None, str], fallback_station_id: str
) -> dict[str, Any]:
    f = group.first
    ordered = sorted(group.evidence.values(), key=lambda e: e.ts)
    first = ordered[0] if ordered else None
    station_id, _name = route
    return {
        "id": new_id(),
        "rule": f.rule,
        "rule_kind": f.rule_kind,
        "severity": f.severity,
        "title": f.title[:TITLE_CHARS],
        "subject_kind": f.subject_kind,
        "subject": f.subject,
        "dedup_key": f.dedup_key,
        "status": AlertStatus.NEW.value,
        "outcome": None,
        "station_id": station_id or fallback_station_id,
        "area_id": first.area if first else None,
        "routing": (Routing.AREA if station_id else Routing.FALLBACK).value,
        "corr_id": first.corr_id if first else None,
        "first_device": first.device if first else None,
        "facts": dict(f.facts),
        "refs": [r.as_json() for r in f.refs],
        "params": dict(f.params),
        "first_seen_at": first.ts if first else f.at,
        "last_seen_at": ordered[-1].ts if ordered else f.at,
        "hits": group.hits,
        "created_at": now,
        "updated_at": now,
    }


def _group(
    findings: Sequence[Finding], existing: dict[tuple[str, str], str], attached: dict[str, set[str]]
) -> dict[tuple[str, str], _Group]:
    """Group findings by (rule, dedup_key), keeping only evidence not attached yet."""
    groups: dict[tuple[str, str], _Group] = {}
    none: set[str] = set()
    for f in findings:
        key = (f.rule, f.dedup_key)
        alert_id = existing.get(key)
        groups.setdefault(key, _Group(first=f)).add(f, attached[alert_id] if alert_id else none)
    return groups


def _extend(
    session: Session,
    groups: dict[tuple[str, str], _Group],
    existing: dict[tuple[str, str], str],
    *,
    now: datetime,
    fallback_station_id: str,
    evidence_rows: list[dict[str, Any]],
) -> list[AlertChange]:
    """Add new evidence to open alerts; findings that bring nothing new (a redelivery) say nothing.

    Evidence older than an alert's first sighting (a station uploading late) becomes its first
    sighting: where the subject was first seen, its correlation id, and the station answerable
    for that place follow event time, not arrival. The alert keeps its id and status; a step
    records the move and the notice names the station it left (`rerouted_from`).
    """
    touched = {key: alert_id for key, alert_id in existing.items() if groups[key].hits}
    current = _alert_rows(session, list(touched.values()))
    earliest = {key: min(groups[key].evidence.values(), key=lambda e: e.ts, default=None) for key in touched}
    moved = {
        key: first
        for key, first in earliest.items()
        if first is not None and first.ts < current[touched[key]]["first_seen_at"]
    }
    routes = _route(session, (first.area for first in moved.values()))
    changes: list[AlertChange] = []
    updates: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for key, alert_id in touched.items():
        group, alert = groups[key], current[alert_id]
        times = [e.ts for e in group.evidence.values()]
        alert["hits"] += group.hits
        alert["last_seen_at"] = max([alert["last_seen_at"], *times])
        alert["first_seen_at"] = min([alert["first_seen_at"], *times])
        was = alert["station_id"]
        if key in moved:
            steps.append(_move_first(alert, moved[key], routes, fallback_station_id, now=now))
        updates.append({f"b_{name}": alert[name] for name in _EXTENDED} | {"b_id": alert_id, "b_now": now})
        evidence_rows.extend(_evidence_row(alert_id, e) for e in group.evidence.values())
        changes.append(
            change_of(
                ChangeType.UPDATED,
                alert,
                at=now,
                new_evidence=len(group.evidence),
                rerouted_from=was if alert["station_id"] != was else None,
            )
        )
    if updates:
        t = ALERTS_T
        session.execute(
            update(t)
            .where(t.c.id == bindparam("b_id"))
            .values(
                {name: bindparam(f"b_{name}") for name in _EXTENDED} | {"updated_at": bindparam("b_now")}
            ),
            updates,
        )
    if steps:
        session.execute(insert(STEPS_T), steps)
    return changes


# The columns extending an alert may change: its counts and times, and with an earlier first
# sighting, where it was first seen and the station answerable for that place.
_EXTENDED = (
    "hits",
    "first_seen_at",
    "last_seen_at",
    "corr_id",
    "first_device",
    "area_id",
    "station_id",
    "routing",
)


def _move_first(
    alert: dict[str, Any],
    first: Evidence,
    routes: dict[str | None, tuple[str | None, str]],
    fallback_station_id: str,
    *,
    now: datetime,
) -> dict[str, Any]:
    """Make an earlier sighting the alert's first (in place) and return the step that records it."""
    was = alert["station_id"]
    station_id, _name = routes.get(first.area, (None, ""))
    alert.update(
        corr_id=first.corr_id,
        first_device=first.device,
        area_id=first.area,
        station_id=station_id or fallback_station_id,
        routing=(Routing.AREA if station_id else Routing.FALLBACK).value,
    )
    moved = f"from {was} to {alert['station_id']}" if alert["station_id"] != was else f"still {was}"
    note = (
        f"an earlier sighting arrived late: first seen by {first.device} at {first.ts.isoformat()} "
        f"(event {first.event_id}); routed {moved}"
    )
    return {
        "alert_id": alert["id"],
        "from_status": alert["status"],
        "to_status": alert["status"],
        "by": f"rule:{alert['rule']}",
        "at": now,
        "note": note,
        "outcome": None,
    }


def _raise(
    session: Session,
    groups: list[_Group],
    *,
    now: datetime,
    fallback_station_id: str,
    fallback_station_name: str,
    evidence_rows: list[dict[str, Any]],
    followers: Sequence[AlertFollower],
) -> list[AlertChange]:
    """Create routed alerts for new situations and queue the notices their followers ask for."""
    firsts = [min(g.evidence.values(), key=lambda e: e.ts, default=None) for g in groups]
    routes = _route(session, (e.area if e else None for e in firsts))
    alert_rows: list[dict[str, Any]] = []
    raised: list[RaisedAlert] = []
    changes: list[AlertChange] = []
    for group, first in zip(groups, firsts, strict=True):
        route = routes[first.area if first else None]
        row = _new_alert_row(group, now=now, route=route, fallback_station_id=fallback_station_id)
        alert_rows.append(row)
        evidence_rows.extend(_evidence_row(row["id"], e) for e in group.evidence.values())
        if group.first.refs:
            raised.append(
                RaisedAlert(
                    alert_id=row["id"],
                    finding=group.first,
                    first=first,
                    last=max(group.evidence.values(), key=lambda e: e.ts, default=None),
                    station_name=route[1] or fallback_station_name,
                    at=row["last_seen_at"],
                )
            )
        changes.append(change_of(ChangeType.RAISED, row, at=now, new_evidence=len(group.evidence)))
    if alert_rows:
        session.execute(insert(ALERTS_T), alert_rows)
    notices = outbox_rows(follow(session, followers, raised), now=now)
    if notices:
        session.execute(insert(OUTBOX_T), notices)
    return changes


def apply_findings(
    session: Session,
    findings: Sequence[Finding],
    *,
    now: datetime,
    fallback_station_id: str,
    fallback_station_name: str = "the command centre",
    followers: Sequence[AlertFollower] = (),
) -> list[AlertChange]:
    """Merge findings into open alerts or raise new ones; return one change per alert touched."""
    if not findings:
        return []
    existing = _open_alert_ids(session, list(dict.fromkeys((f.rule, f.dedup_key) for f in findings)))
    groups = _group(findings, existing, _attached_events(session, list(existing.values())))
    evidence_rows: list[dict[str, Any]] = []
    updated = _extend(
        session,
        groups,
        existing,
        now=now,
        fallback_station_id=fallback_station_id,
        evidence_rows=evidence_rows,
    )
    raised = _raise(
        session,
        [g for k, g in groups.items() if k not in existing],
        now=now,
        fallback_station_id=fallback_station_id,
        fallback_station_name=fallback_station_name,
        evidence_rows=evidence_rows,
        followers=followers,
    )
    if evidence_rows:  # after the alerts they belong to
        session.execute(insert(EVIDENCE_T), evidence_rows)
    log.info(
        "findings applied",
        findings=len(findings),
        raised=len(raised),
        updated=len(updated),
        evidence=len(evidence_rows),
    )
    return updated + raised
