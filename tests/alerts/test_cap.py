"""CAP 1.2 export: structure, element order, mappings and no personal data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

from safecity.alerts import CAP_NS, AlertService
from safecity.alerts.cap import cap_time, to_cap

from .conftest import OWNER_ID_NUMBER, OWNER_PHONE, T0, MakeFinding

NS = {"cap": CAP_NS}
ALERT_ORDER = ["identifier", "sender", "sent", "status", "msgType", "scope", "restriction", "info"]
UPDATE_ORDER = [
    "identifier",
    "sender",
    "sent",
    "status",
    "msgType",
    "scope",
    "restriction",
    "references",
    "info",
]
INFO_ORDER = [
    "language",
    "category",
    "event",
    "urgency",
    "severity",
    "certainty",
    "senderName",
    "headline",
    "description",
    "web",
    "parameter",
    "parameter",
    "parameter",
    "area",
]


def _local(element: ET.Element) -> list[str]:
    return [child.tag.split("}", 1)[1] for child in element]


def _export(service: AlertService, alert_id: str) -> ET.Element:
    xml = to_cap(
        service.get(alert_id),
        sender="police@wenzhou.example",
        sender_name="Wenzhou PSB",
        web_base_url="https://safecity.example/",
    )
    assert xml.startswith(b"<?xml")
    return ET.fromstring(xml)


def test_new_alert_exports_as_a_cap_alert_in_schema_order(
    service: AlertService, make_finding: MakeFinding
) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    root = _export(service, alert_id)

    assert root.tag == f"{{{CAP_NS}}}alert"
    assert _local(root) == ALERT_ORDER
    info = root.find("cap:info", NS)
    assert info is not None
    assert _local(info) == INFO_ORDER
    assert root.findtext("cap:identifier", namespaces=NS) == f"safecity-{alert_id}"
    assert root.findtext("cap:status", namespaces=NS) == "Actual"
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:scope", namespaces=NS) == "Restricted"
    assert root.findtext("cap:restriction", namespaces=NS)
    sent = root.findtext("cap:sent", namespaces=NS) or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", sent)
    assert info.findtext("cap:category", namespaces=NS) == "Security"
    assert info.findtext("cap:event", namespaces=NS) == "Stolen e-bike tag read"
    assert (
        info.findtext("cap:urgency", namespaces=NS),
        info.findtext("cap:severity", namespaces=NS),
        info.findtext("cap:certainty", namespaces=NS),
    ) == ("Immediate", "Severe", "Likely")
    assert info.findtext("cap:web", namespaces=NS) == f"https://safecity.example/alerts/{alert_id}"
    params = {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in info.findall("cap:parameter", NS)
    }
    assert params == {"rule": "stolen_bike", "dedup_key": "tag:A1B2C3D4", "corr_id": "corr-RS-1-0"}
    area = info.find("cap:area", NS)
    assert area is not None
    assert _local(area) == ["areaDesc", "circle"]
    assert area.findtext("cap:circle", namespaces=NS) == "28.000100,120.650100 0.5"


def test_extended_and_closed_alert_exports_as_an_update_referencing_the_first(
    service: AlertService, make_finding: MakeFinding
) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    service.apply_findings([make_finding("RS-3", 9)])
    service.close(alert_id, by="patrol-12", outcome="confirmed")
    root = _export(service, alert_id)

    assert _local(root) == UPDATE_ORDER
    assert root.findtext("cap:msgType", namespaces=NS) == "Update"
    assert root.findtext("cap:identifier", namespaces=NS) != f"safecity-{alert_id}"
    references = (root.findtext("cap:references", namespaces=NS) or "").split(",")
    assert references[:2] == ["police@wenzhou.example", f"safecity-{alert_id}"]
    info = root.find("cap:info", NS)
    assert info is not None
    assert info.findtext("cap:urgency", namespaces=NS) == "Past"
    assert info.findtext("cap:certainty", namespaces=NS) == "Observed"
    # The circle follows the bike: around the last reading.
    assert info.findtext("cap:area/cap:circle", namespaces=NS) == "28.020100,120.670100 0.5"


def test_cap_carries_no_personal_data(service: AlertService, make_finding: MakeFinding) -> None:
    alert_id = service.apply_findings([make_finding("RS-1", 0)])[0].alert_id
    xml = to_cap(service.get(alert_id), sender="s", sender_name="n").decode()

    for secret in ("Zhang Wei", OWNER_PHONE, OWNER_ID_NUMBER):
        assert secret not in xml


def test_cap_times_have_an_offset_and_no_fraction() -> None:
    assert cap_time(T0 + timedelta(microseconds=123456)) == "2024-05-01T08:00:00-00:00"
