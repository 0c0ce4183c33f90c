"""The checkpoint view and the face review desk in real Chromium: a patrol officer sees a listed
plate's hit arrive live with its image and records the stop; a face reviewer compares a fugitive's
hit with the enrolled photo and confirms it, and only then does a warning exist; at a desk and on
a phone, with the Chinese drawn in the served font."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.alerts.query import AlertFilter
from safecity.security.roles import Role
from tests.authn import mint
from tests.browser.livecity import LiveCity
from tests.browser.test_chinese_text import assert_chinese_renders, shoot
from tests.browser.test_console import sign_in
from tests.browser.test_workbench_page import _open_case
from tests.recognition.conftest import fugitive_photo, grandmother_photo, plate_jpeg, seen_fugitive

pytestmark = pytest.mark.browser

PLATE = "浙C7M2K9"


def _camera(live: LiveCity, device: str, kind: str) -> tuple[str, str]:
    body = {"id": device, "kind": kind, "name": device, "lat": 28.0, "lon": 120.65, "area_id": "C010101"}
    with live.api(mint(live.platform.security, Role.ADMINISTRATOR)) as c:
        answer = c.post("/api/v1/devices", json=body)
    assert answer.status_code == 201, answer.text
    return device, str(answer.json()["secret"])


def _post(live: LiveCity, camera: tuple[str, str], data: bytes, **params: str) -> None:
    with live.api({}) as client:
        answer = client.post(
            "/api/v1/recognition/images",
            content=data,
            params={"ts": datetime.now(UTC).isoformat(), **params},
            headers={"Content-Type": "image/jpeg"},
            auth=camera,
        )
    assert answer.status_code == 202, answer.text


def test_a_patrol_officer_sees_a_listed_plate_arrive_and_records_the_stop(live: LiveCity, page: Any) -> None:
    camera = _camera(live, "CAM-KK-B1", "checkpoint_camera")
    with live.api() as client:
        listed = client.post(
            "/api/v1/watchlist/plates",
            json={"plate": PLATE, "list_kind": "wanted_vehicle", "basis": "温公刑(2026)118号"},
        )
    assert listed.status_code == 201, listed.text
    officer = live.account(Role.PATROL_OFFICER, areas=("D01",))
    sign_in(page, live, officer, start="/checkpoints", lands="/checkpoints")
    expect(page.locator("#live")).to_have_text("live 实时")
    expect(page.locator("#hits-empty")).to_be_visible()

    _post(live, camera, plate_jpeg(PLATE), framing="crop")
    hit = page.locator(".cp-hit").first
    expect(hit).to_contain_text(PLATE, timeout=60_000)
    expect(hit).to_contain_text("Wanted vehicle 布控车辆")
    image = hit.locator("img.cp-image")
    expect(image).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('img.cp-image'); return i && i.naturalWidth > 0; }"
    )
    assert_chinese_renders(page, "卡口布控比对", "布控车辆")
    shoot(page, "checkpoint-hit")

    hit.get_by_label("What the stop found 处置情况").fill("driver held, car towed")
    hit.get_by_role("button", name="Stopped 已拦截").click()
    # Handled hits leave the waiting list; "All" shows it with its outcome.
    expect(page.locator("#hits-empty")).to_be_visible()
    page.get_by_label("All 全部").check()
    expect(page.locator(".cp-hit").first).to_contain_text("Stopped 已拦截")
    expect(page.locator(".cp-hit").first).to_contain_text("driver held")


def test_a_face_hit_waits_for_the_reviewer_and_alerts_only_once_confirmed(live: LiveCity, page: Any) -> None:
    camera = _camera(live, "CAM-FC-B1", "face_camera")
    with live.api() as client:
        enrolled = client.post(
            "/api/v1/faces/enrolments",
            data={
                "list_kind": "fugitive",
                "label": "演示在逃人员 (sample photograph)",
                "basis": "温公刑(2026)77号",
            },
            files=[("photos", ("p.jpg", fugitive_photo(), "image/jpeg"))],
        )
    assert enrolled.status_code == 201, enrolled.text
    reference = enrolled.json()["reference"]
    _post(live, camera, seen_fugitive(7))

    reviewer = live.account(Role.FACE_REVIEWER, areas=("D01",))
    sign_in(page, live, reviewer, start="/review", lands="/review")
    item = page.locator(".rv-item").first
    expect(item).to_contain_text("演示在逃人员", timeout=60_000)
    expect(item).to_contain_text("Fugitive 在逃人员")
    loaded = "[...document.querySelectorAll('.rv-compare img')].every((i) => i.naturalWidth > 0)"
    page.wait_for_function(f"() => {loaded}")
    assert _face_alerts(live, reference) == []  # nothing has gone out yet
    assert_chinese_renders(page, "人脸比中核验", "在逃人员")
    shoot(page, "face-review")

    # Rejecting needs a reason: the server says so.
    item.get_by_role("button", name="Not the same person 不是同一人").click()
    expect(page.locator("#review-error")).to_contain_text("reason")
    item.get_by_label("Reason 理由 (required to reject)").fill("same face shape and hairline")
    item.get_by_role("button", name="Same person: alert 确认同一人").click()
    expect(page.locator("#reviews-empty")).to_be_visible()
    deadline = time.monotonic() + 15
    while not _face_alerts(live, reference) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_face_alerts(live, reference)) == 1
    page.get_by_label("Confirmed 已确认").check()
    expect(page.locator(".rv-item").first).to_contain_text("Confirmed 已确认")


def _face_alerts(live: LiveCity, reference: str) -> list[Any]:
    return [a for a in live.platform.alerts.list_alerts(AlertFilter()) if a.subject == reference]


def test_roles_without_the_pages_are_refused(live: LiveCity, page: Any) -> None:
    landlord = live.account(Role.LANDLORD)
    sign_in(page, live, landlord, start="/me", lands="/me")
    for path in ("/checkpoints", "/review", "/lost"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path


def test_an_investigator_finds_the_lost_grandmother_from_her_photo(
    live: LiveCity, page: Any, tmp_path: Any
) -> None:
    camera = _camera(live, "CAM-FC-B2", "face_camera")
    now = datetime.now(UTC)
    for hours_ago, seed in ((3, 21), (2, 22), (1, 23)):
        _post(live, camera, grandmother_photo(seed), ts=(now - timedelta(hours=hours_ago)).isoformat())
    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    case_id = _open_case(live, investigator.username)
    photo = tmp_path / "grandma.jpg"
    photo.write_bytes(grandmother_photo())
    deadline = time.monotonic() + 60
    while _face_sightings(live) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)

    sign_in(page, live, investigator, start=f"/lost?case={case_id}", lands=f"/lost?case={case_id}")
    expect(page.locator("#case")).to_have_value(case_id)
    page.get_by_label("Purpose 查询目的").fill("find the missing grandmother, report 2026-1207-07")
    page.get_by_label("Photo 照片").set_input_files(str(photo))
    page.get_by_label("Last hours 近几小时").fill("6")
    page.get_by_role("button", name="Search 比对").click()
    expect(page.locator(".lost-candidate")).to_have_count(3, timeout=30_000)
    expect(page.locator("#map")).to_have_attribute("data-candidates", "3")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.lost-candidate img')].every((i) => i.naturalWidth > 0)"
    )
    assert_chinese_renders(page, "走失人员照片比对", "可能轨迹")
    shoot(page, "lost-person")


def _face_sightings(live: LiveCity) -> int:
    from sqlalchemy import func, select

    from safecity.recognition.models import FaceSighting

    with live.platform.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(FaceSighting)) or 0)
