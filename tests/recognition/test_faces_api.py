"""Faces end to end: a fugitive enrolled from a photo, seen by a face camera, waits for a reviewer;
no warning reaches anyone before the reviewer confirms; a lost grandmother's photo finds her
recent sightings under a case. Refusals name the photo or field; every look is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from safecity.alerts.query import AlertFilter
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import Role
from safecity.sim.face_images import astronaut, compose_frame, encode
from tests.conftest import T0
from tests.recognition.conftest import (
    FACE_CAMERA,
    Served,
    fugitive_photo,
    grandmother_photo,
    seen_fugitive,
)
from tests.web.test_registry_api import error_of

ENROL = "/api/v1/faces/enrolments"
REVIEWS = "/api/v1/faces/reviews"


def _enrol(served: Served, photos: list[bytes], **fields: str) -> Any:
    data = {
        "list_kind": "fugitive",
        "label": "演示在逃人员 (sample photograph)",
        "basis": "温公刑(2026)77号",
        **fields,
    }
    files = [("photos", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]
    return served.client.post(ENROL, data=data, files=files)


def _pending(served: Served, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = served.client.get(REVIEWS, headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()
    return items


def test_a_fugitive_hit_waits_for_a_reviewer_and_alerts_only_once_confirmed(served: Served) -> None:
    enrolled = _enrol(served, [fugitive_photo()])
    assert enrolled.status_code == 201, enrolled.text
    reference = enrolled.json()["reference"]
    reviewer = served.headers(Role.FACE_REVIEWER, areas=["S1"])

    assert served.post_image(FACE_CAMERA, seen_fugitive(3)).status_code == 202
    [hit] = served.wait(lambda: _pending(served, reviewer))
    assert hit["reference"] == reference and hit["list_kind"] == "fugitive" and hit["status"] == "pending"
    assert 0 <= hit["distance"] < 0.5 and hit["has_image"] and hit["photos"] == 1
    # Nothing has reached any unit: no warning exists while the hit waits.
    assert served.platform.alerts.list_alerts(AlertFilter()) == []

    image = served.client.get(f"{REVIEWS}/{hit['id']}/image", headers=reviewer)
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    photo = served.client.get(f"{REVIEWS}/{hit['id']}/photos/0", headers=reviewer)
    assert photo.status_code == 200 and photo.content == fugitive_photo()
    assert served.client.get(f"{REVIEWS}/{hit['id']}/photos/1", headers=reviewer).status_code == 404

    refused = served.client.post(
        f"{REVIEWS}/{hit['id']}/decision", json={"decision": "rejected"}, headers=reviewer
    )
    assert error_of(refused, 409)["field"] == "reason"
    done = served.client.post(
        f"{REVIEWS}/{hit['id']}/decision",
        json={"decision": "confirmed", "reason": "same scar"},
        headers=reviewer,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "confirmed" and done.json()["decided_by"]
    [alert] = served.wait(lambda: served.platform.alerts.list_alerts(AlertFilter()))
    assert (alert.rule, alert.subject_kind, alert.subject) == ("face-fugitive", "face", reference)
    facts = served.platform.alerts.get(alert.id).alert.facts
    assert facts["review"] == hit["id"] and facts["reviewed_by"] == done.json()["decided_by"]

    again = served.client.post(
        f"{REVIEWS}/{hit['id']}/decision", json={"decision": "rejected", "reason": "x"}, headers=reviewer
    )
    assert error_of(again, 409)["field"] == "decision"
    report = served.client.get("/api/v1/faces/precision", headers=reviewer).json()
    assert report["list"] == [
        {"group": "fugitive", "confirmed": 1, "rejected": 0, "expired": 0, "pending": 0, "precision": 1.0}
    ]
    with served.platform.session_factory() as session:
        actions = {r.action for r in audit.search(session, AuditFilter(limit=100))}
    assert {"faces.enrol", "faces.review_image", "faces.enrolment_photo", "faces.review"} <= actions


def test_someone_else_makes_no_hit_and_is_kept_only_as_a_sighting(served: Served) -> None:
    assert _enrol(served, [fugitive_photo()]).status_code == 201
    assert served.post_image(FACE_CAMERA, grandmother_photo(2)).status_code == 202
    served.wait(lambda: _sightings(served))
    reviewer = served.headers(Role.FACE_REVIEWER, areas=["S1"])
    assert _pending(served, reviewer) == []


def _sightings(served: Served) -> int:
    from sqlalchemy import func, select

    from safecity.recognition.models import FaceSighting

    with served.platform.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(FaceSighting)) or 0)


def test_reviews_are_for_reviewers_of_the_area_only(served: Served) -> None:
    assert _enrol(served, [fugitive_photo()]).status_code == 201
    served.post_image(FACE_CAMERA, seen_fugitive(4))
    reviewer = served.headers(Role.FACE_REVIEWER, areas=["S1"])
    [hit] = served.wait(lambda: _pending(served, reviewer))
    elsewhere = served.headers(Role.FACE_REVIEWER, areas=["S2"])
    assert _pending(served, elsewhere) == []
    assert served.client.get(f"{REVIEWS}/{hit['id']}", headers=elsewhere).status_code == 403
    decision = {"decision": "confirmed", "reason": ""}
    assert (
        served.client.post(f"{REVIEWS}/{hit['id']}/decision", json=decision, headers=elsewhere).status_code
        == 403
    )
    officer = served.headers(Role.PATROL_OFFICER, areas=["S1"])
    assert served.client.get(REVIEWS, headers=officer).status_code == 403


def test_enrolment_refusals_name_the_photo_or_field(served: Served) -> None:
    two = encode(compose_frame([(astronaut(), (0, 0)), (astronaut(), (600, 100))], size=(720, 1280)))
    cases: list[tuple[list[bytes], dict[str, str], str]] = [
        ([], {}, "photos"),
        ([b"not a picture"], {}, "photos[0]"),
        ([fugitive_photo(), b"\xff\xd8\xff\xe0broken"], {}, "photos[1]"),
        ([two], {}, "photos[0]"),
        # Someone else mixed in: of two photos either may be the stranger, the first is named.
        ([fugitive_photo(), grandmother_photo()], {}, "photos[0]"),
        ([fugitive_photo()], {"list_kind": "wanted_person"}, "list_kind"),
        ([fugitive_photo()], {"basis": ""}, "basis"),
        ([fugitive_photo()], {"label": " "}, "label"),
        ([fugitive_photo()], {"valid_days": "0"}, "valid_days"),
    ]
    for photos, fields, field in cases:
        error = error_of(_enrol(served, photos, **fields), 422)
        assert error["field"] == field, (field, error)
    assert served.client.get("/api/v1/watchlist", params={"list_kind": "fugitive"}).json() == []
    officer = served.headers(Role.PATROL_OFFICER, areas=["S1"])
    assert _enrol_as(served, officer).status_code == 403


def _enrol_as(served: Served, headers: dict[str, str]) -> Any:
    files = [("photos", ("p.jpg", fugitive_photo(), "image/jpeg"))]
    data = {"list_kind": "fugitive", "label": "x", "basis": "y"}
    return served.client.post(ENROL, data=data, files=files, headers=headers)


def test_a_lost_grandmothers_photo_finds_her_recent_sightings_under_a_case(served: Served) -> None:
    for hours_ago, seed in ((3, 11), (2, 12), (1, 13)):
        ts = (T0 - timedelta(hours=hours_ago)).isoformat()
        assert served.post_image(FACE_CAMERA, grandmother_photo(seed), ts=ts).status_code == 202
    served.post_image(FACE_CAMERA, seen_fugitive(5))  # somebody else passing
    served.wait(lambda: _sightings(served) >= 4)
    case = _open_case(served)
    form = {"case_id": case, "purpose": "find the missing grandmother (report 2026-1122-07)", "hours": "6"}
    files = [("photos", ("grandma.jpg", grandmother_photo(), "image/jpeg"))]
    answer = served.client.post("/api/v1/faces/lost", data=form, files=files)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert len(found["candidates"]) == 3 and all(c["distance"] < 0.5 for c in found["candidates"])
    times = found["path"]["properties"]["times"]
    assert times == sorted(times) and len(found["path"]["geometry"]["coordinates"]) == 3
    image = served.client.get(
        f"/api/v1/faces/sightings/{found['candidates'][0]['sighting_id']}/image",
        params={"case_id": case, "purpose": form["purpose"]},
    )
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"

    no_case = served.client.post("/api/v1/faces/lost", data={"purpose": form["purpose"]}, files=files)
    assert error_of(no_case, 403)["code"] == "justification_required"
    too_far = served.client.post("/api/v1/faces/lost", data={**form, "hours": "500"}, files=files)
    assert error_of(too_far, 422)["field"] == "hours"
    with served.platform.session_factory() as session:
        [record] = audit.search(session, AuditFilter(action="faces.lost_search"))
    assert record.case_id == case and record.result_count == 3


def _open_case(served: Served) -> str:
    body = {
        "title": "Missing grandmother, 78, left home at 06:00",
        "basis": "missing-person report 2026-1122-07",
        "area_id": "S1",
        "window_start": (T0 - timedelta(days=1)).isoformat(),
        "window_end": T0.isoformat(),
    }
    answer = served.client.post("/api/v1/cases", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])
