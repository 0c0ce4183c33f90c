"""The documents a third-party producer or client reads stay true where a machine can check them:
device kinds, request bodies, alert fields, the live stream's event names, OpenAPI descriptions."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import safecity.web.api.alerts as alerts_api
from safecity.alerts import ChangeType
from safecity.alerts.query import AlertSummary
from safecity.alerts.schemas import CloseIn, TransitionIn
from safecity.platform import Platform
from safecity.registry import DeviceKind
from safecity.registry.schemas import BikeIn, CloseEntryIn, DeviceIn, StolenIn, TerminalIn, WantedPersonIn
from safecity.settings import Settings
from safecity.web.app import create_app

DOCS = Path(__file__).resolve().parent.parent / "docs"


def section(document: str, heading: str) -> str:
    """The text of one `## ` section of a document in docs/."""
    text = (DOCS / document).read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_every_device_kind_is_in_the_producer_guide() -> None:
    devices = section("ingest.md", "9. Devices")
    missing = [kind.value for kind in DeviceKind if f"| `{kind.value}` |" not in devices]
    assert missing == [], f"docs/ingest.md section 9: document the device kinds {missing}"


@pytest.mark.parametrize(
    ("document", "heading", "model"),
    [
        ("ingest.md", "9. Devices", DeviceIn),
        ("api.md", "Registry", BikeIn),
        ("api.md", "Registry", StolenIn),
        ("api.md", "Registry", WantedPersonIn),
        ("api.md", "Registry", CloseEntryIn),
        ("api.md", "Alerts", TransitionIn),
        ("api.md", "Alerts", CloseIn),
        ("trackers.md", "Registering a terminal", TerminalIn),
    ],
)
def test_every_field_of_a_request_body_is_documented(
    document: str, heading: str, model: type[BaseModel]
) -> None:
    text = section(document, heading)
    missing = [name for name in model.model_fields if f"`{name}`" not in text]
    assert missing == [], f"docs/{document} ({heading}): document {model.__name__}'s fields {missing}"


def test_every_field_of_an_alert_is_explained() -> None:
    text = section("api.md", "Alerts")
    missing = [name for name in AlertSummary.model_fields if f"`{name}`" not in text]
    assert missing == [], f"docs/api.md (Alerts): explain the alert fields {missing}"


def test_every_event_name_the_live_stream_sends_is_documented() -> None:
    source = inspect.getsource(alerts_api)
    named_in_code = set(re.findall(r"event: ([A-Za-z]\w*)", source))
    assert named_in_code, "the stream's own events are no longer written as `event: <name>`"
    names = {change.value for change in ChangeType} | named_in_code
    stream = section("api.md", "The live stream")
    missing = sorted(name for name in names if f"| `{name}` |" not in stream)
    assert missing == [], f"docs/api.md (The live stream): document the events {missing}"


# The models of the registry and alert routes a client reads about in docs/api.md and ingest.md.
DESCRIBED = [
    "BikeIn",
    "BikeOut",
    "PersonOut",
    "StolenIn",
    "WantedPersonIn",
    "CloseEntryIn",
    "EntryOut",
    "DeviceIn",
    "DeviceOut",
    "DeviceSecretOut",
    "TerminalIn",
    "TerminalOut",
    "AreaOut",
    "AlertOut",
    "AlertListOut",
    "AlertDetailOut",
    "EvidenceOut",
    "StepOut",
    "RoutingOut",
    "PrecisionRowOut",
    "TransitionIn",
    "CloseIn",
    "ErrorOut",
    "ErrorDetail",
]


def test_openapi_describes_every_field_of_the_documented_models(tmp_path: Path) -> None:
    schemas = create_app(Platform.build(Settings(data_dir=tmp_path))).openapi()["components"]["schemas"]
    undescribed = {
        name: [field for field, prop in schemas[name]["properties"].items() if not prop.get("description")]
        for name in DESCRIBED
    }
    assert {name: fields for name, fields in undescribed.items() if fields} == {}
