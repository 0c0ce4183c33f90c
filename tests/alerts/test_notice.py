"""Alert change notices: every field the service publishes is documented for stream clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safecity.alerts import AlertService

from .conftest import MakeFinding

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_field_of_every_published_notice_is_in_the_stream_docs(
    service: AlertService, make_finding: MakeFinding, published: list[tuple[str, dict[str, Any]]]
) -> None:
    alert_id = service.apply_findings([make_finding("RS-3", 20)])[0].alert_id
    service.apply_findings([make_finding("RS-1", 3)])  # earlier, elsewhere: moves the alert
    service.acknowledge(alert_id, by="officer-1")
    text = API_DOC.read_text(encoding="utf-8")
    stream = text[text.index("## The live stream") :]

    types = {notice["type"] for _, notice in published}
    fields = {name for _, notice in published for name in notice}
    assert types == {"AlertRaised", "AlertUpdated", "AlertTransitioned"}
    missing = sorted(name for name in fields if f"`{name}`" not in stream)
    assert missing == [], f"docs/api.md (The live stream): document the notice fields {missing}"
