"""Export an alert as a CAP 1.2 message (OASIS Common Alerting Protocol) for other agencies' systems.

Elements are written in the order the CAP 1.2 schema requires. The message carries no personal
data: no owner name, phone or identity number; personal subjects are masked.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 (we only build XML here, never parse untrusted input)
from datetime import UTC, datetime, tzinfo

from safecity.alerts.models import AlertStatus, Outcome
from safecity.alerts.policy import public_dedup_key, public_subject
from safecity.alerts.query import AlertDetail

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MEDIA_TYPE = "application/cap+xml"
DEFAULT_RESTRICTION = "Police and partner agencies only; handle under the safecity data-sharing terms."

# Alert severity as rules state it -> CAP severity.
_SEVERITY = {
    "critical": "Extreme",
    "high": "Severe",
    "medium": "Moderate",
    "warning": "Moderate",
    "low": "Minor",
    "info": "Minor",
}
_OPEN_URGENCY = {"Extreme": "Immediate", "Severe": "Immediate", "Moderate": "Expected", "Minor": "Future"}
# What the handling officer concluded -> CAP certainty. An unjudged sensor reading is "Likely".
_CERTAINTY = {
    Outcome.CONFIRMED.value: "Observed",
    Outcome.FALSE_ALARM.value: "Unlikely",
    Outcome.UNVERIFIED.value: "Possible",
}


def cap_time(value: datetime, tz: tzinfo = UTC) -> str:
    """CAP dateTime: seconds precision with an explicit offset; UTC is written -00:00 as CAP asks."""
    text = value.astimezone(tz).replace(microsecond=0).isoformat()
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def cap_severity(severity: str) -> str:
    """Map an alert severity to CAP's Extreme/Severe/Moderate/Minor/Unknown."""
    return _SEVERITY.get(severity.lower(), "Unknown")


def cap_urgency(status: str, severity: str) -> str:
    """Closed alerts need no action (Past); open ones by severity."""
    if status == AlertStatus.CLOSED:
        return "Past"
    return _OPEN_URGENCY.get(cap_severity(severity), "Unknown")


def cap_certainty(outcome: str | None) -> str:
    """Map the handling outcome to CAP certainty."""
    return _CERTAINTY.get(outcome or "", "Likely")


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _description(detail: AlertDetail, tz: tzinfo) -> str:
    a = detail.alert
    last = detail.evidence[-1] if detail.evidence else None
    lines = [
        f"{a.title}: {a.subject_kind} {public_subject(a.subject_kind, a.subject)}.",
        f"Seen {a.hits} time(s) by {len({e.device for e in detail.evidence})} device(s) "
        f"between {cap_time(a.first_seen_at, tz)} and {cap_time(a.last_seen_at, tz)}.",
    ]
    if last is not None:
        lines.append(f"Last seen by device {last.device} in area {last.area or 'unknown'}.")
    lines.append(
        f"Handled by station {a.station_id}; status {a.status}"
        + (f", outcome {a.outcome}." if a.outcome else ".")
    )
    return " ".join(lines)


def to_cap(
    detail: AlertDetail,
    *,
    sender: str,
    sender_name: str,
    web_base_url: str = "",
    radius_km: float = 0.5,
    restriction: str = DEFAULT_RESTRICTION,
    tz: tzinfo = UTC,
    language: str = "en-GB",
) -> bytes:
    """Render an alert as CAP 1.2 XML (UTF-8 with declaration).

    The first message about an alert is an Alert; once it has more sightings or lifecycle steps
    it is an Update whose `references` names the first message.
    """
    ET.register_namespace("", CAP_NS)
    a = detail.alert
    first_id = f"safecity-{a.id}"
    is_update = a.hits > 1 or a.status != AlertStatus.NEW
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", f"{first_id}-{int(a.updated_at.timestamp())}" if is_update else first_id)
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(a.updated_at if is_update else a.created_at, tz))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", "Update" if is_update else "Alert")
    _sub(root, "scope", "Restricted")
    _sub(root, "restriction", restriction)
    if is_update:
        _sub(root, "references", f"{sender},{first_id},{cap_time(a.created_at, tz)}")
    info = _sub(root, "info")
    _sub(info, "language", language)
    _sub(info, "category", "Security")
    _sub(info, "event", a.title)
    _sub(info, "urgency", cap_urgency(a.status, a.severity))
    _sub(info, "severity", cap_severity(a.severity))
    _sub(info, "certainty", cap_certainty(a.outcome))
    _sub(info, "senderName", sender_name)
    _sub(info, "headline", a.title[:160])
    _sub(info, "description", _description(detail, tz))
    if web_base_url:
        _sub(info, "web", f"{web_base_url.rstrip('/')}/alerts/{a.id}")
    for name, value in (
        ("rule", a.rule),
        ("dedup_key", public_dedup_key(a.subject_kind, a.subject, a.dedup_key)),
        ("corr_id", a.corr_id or ""),
    ):
        parameter = _sub(info, "parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)
    located = [e for e in detail.evidence if e.lat is not None and e.lon is not None]
    area = _sub(info, "area")
    last = located[-1] if located else None
    _sub(
        area,
        "areaDesc",
        f"Area {last.area or 'unknown'}, near device {last.device}"
        if last
        else f"Area {a.area_id or 'unknown'}",
    )
    if last is not None:
        _sub(area, "circle", f"{last.lat:.6f},{last.lon:.6f} {radius_km:g}")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
