"""A watch-listed plate read at a checkpoint camera, end to end: image posted, read in the pool,
the read a record, the hit kept and shown with its (masked) image, a warning raised for an alert
list, only logged for a log list, and the stop's outcome recorded once."""

from __future__ import annotations

from safecity.alerts.query import AlertFilter
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import Role
from tests.recognition.conftest import PLATE_CAMERA, Served, frame_jpeg, plate_jpeg

HITS = "/api/v1/checkpoints/hits"


def _listed(served: Served, plate: str, list_kind: str = "wanted_vehicle") -> int:
    body = {"plate": plate, "list_kind": list_kind, "basis": "温公刑(2026)118号", "valid_days": 30}
    answer = served.client.post("/api/v1/watchlist/plates", json=body)
    assert answer.status_code == 201, answer.text
    entry_id: int = answer.json()["id"]
    return entry_id


def _desk(served: Served) -> dict[str, str]:
    """The checkpoint desk: a patrol officer of the cameras' station."""
    return served.headers(Role.PATROL_OFFICER, areas=["S1"])


def _hits(served: Served, desk: dict[str, str]) -> list[dict[str, object]]:
    answer = served.client.get(HITS, headers=desk)
    assert answer.status_code == 200, answer.text
    hits: list[dict[str, object]] = answer.json()
    return hits


def test_a_listed_plate_posted_as_a_crop_hits_alerts_and_is_handled_once(served: Served) -> None:
    desk = _desk(served)
    entry = _listed(served, "浙C7M2K9")
    posted = served.post_image(PLATE_CAMERA, plate_jpeg("浙C7M2K9"), framing="crop")
    assert posted.status_code == 202, posted.text
    [hit] = served.wait(lambda: _hits(served, desk))
    assert (hit["plate_read"], hit["listed_plate"], hit["list_kind"]) == (
        "浙C7M2K9",
        "浙C7M2K9",
        "wanted_vehicle",
    )
    assert hit["distance"] == 0 and hit["priority"] == 1 and hit["action"] == "alert" and hit["has_image"]
    image = served.client.get(f"{HITS}/{hit['id']}/image", headers=desk)
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    assert "no-store" in image.headers["cache-control"]

    alerts = served.wait(lambda: served.platform.alerts.list_alerts(AlertFilter()))
    assert [(a.rule, a.subject) for a in alerts] == [("checkpoint-wanted_vehicle", "浙C7M2K9")]
    facts = served.platform.alerts.get(alerts[0].id).alert.facts
    assert facts["watchlist_entry_id"] == entry and facts["plate_read"] == "浙C7M2K9"

    done = served.client.post(
        f"{HITS}/{hit['id']}/outcome", json={"status": "stopped", "outcome": "driver held"}, headers=desk
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "stopped" and done.json()["handled_by"]
    again = served.client.post(f"{HITS}/{hit['id']}/outcome", json={"status": "not_stopped"}, headers=desk)
    assert again.status_code == 409 and again.json()["error"]["field"] == "status"
    with served.platform.session_factory() as session:
        actions = [r.action for r in audit.search(session, AuditFilter(limit=50))]
    assert {"checkpoint.image", "checkpoint.outcome", "watchlist.add_plate"} <= set(actions)


def test_a_plate_in_a_street_frame_is_found_and_read(served: Served) -> None:
    desk = _desk(served)
    data, plate = frame_jpeg(seed=5)
    _listed(served, plate, "suspicious_vehicle")
    assert served.post_image(PLATE_CAMERA, data).status_code == 202
    [hit] = served.wait(lambda: _hits(served, desk))
    assert hit["listed_plate"] == plate and hit["action"] == "log" and hit["priority"] == 3
    # A log list keeps the hit at the checkpoint and raises no warning.
    assert served.platform.alerts.list_alerts(AlertFilter()) == []


def test_hits_are_scoped_to_the_officers_areas(served: Served) -> None:
    desk = _desk(served)
    _listed(served, "浙C7M2K9")
    served.post_image(PLATE_CAMERA, plate_jpeg("浙C7M2K9"), framing="crop")
    [hit] = served.wait(lambda: _hits(served, desk))
    elsewhere = served.headers(Role.PATROL_OFFICER, areas=["S2"])
    assert [h["id"] for h in served.client.get(HITS, headers=desk).json()] == [hit["id"]]
    assert served.client.get(HITS, headers=elsewhere).json() == []
    investigator = served.client.get(HITS)  # the workbench's role, not the checkpoint's
    assert investigator.status_code == 403
    refused = served.client.get(f"{HITS}/{hit['id']}", headers=elsewhere)
    assert refused.status_code == 403
    partner = served.headers(Role.LANDLORD)
    assert served.client.get(HITS, headers=partner).status_code == 403
