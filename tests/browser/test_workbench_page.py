"""The workbench in real Chromium: an investigator, inside a case, adds three windows by clicking the
map, collides them and finds the plate seen at all three, follows its path with the time slider,
finds the phone travelling with it, pins it, writes a note and downloads the case file; puts a
suspect's phone and an accomplice's plate on the map side by side with one time slider; at a desk and
on a phone, with the Chinese text drawn in the served font."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.core.context import SYSTEM
from safecity.dispatch.incidents import Incidents
from safecity.dispatch.schemas import IncidentIn
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.sim.grid import Grid
from safecity.sim.roadnet import city_roads
from safecity.store import transaction
from tests.browser.livecity import BASE_STATIONS, EAST, NORTH, SOUTH, WEST, LiveCity
from tests.browser.test_chinese_text import assert_chinese_renders, shoot
from tests.browser.test_console import sign_in
from tests.workbench.data import frame

pytestmark = pytest.mark.browser

PLATE, PHONE_SUBJECT = "浙C8T123", "PH-WB-MATE"


def _plant(live: LiveCity) -> None:
    """The plate by each base station 40, 30 and 20 minutes ago, a phone 30 s behind it each time,
    and a decoy plate by one station only."""
    now = datetime.now(UTC)
    rows: dict[str, list[Any]] = {
        k: [] for k in ("event_id", "subject_kind", "subject", "device", "ts", "lat", "lon", "area")
    }
    stamp = now.strftime("%H%M%S%f")

    def add(kind: str, who: str, device: str, ts: datetime) -> None:
        lat, lon, _ = BASE_STATIONS[device]
        rows["event_id"].append(f"wb-{stamp}-{len(rows['event_id'])}")
        rows["subject_kind"].append(kind)
        rows["subject"].append(who)
        rows["device"].append(device)
        rows["ts"].append(ts)
        rows["lat"].append(lat)
        rows["lon"].append(lon)
        rows["area"].append("C010101")

    for minutes, device in zip((40, 30, 20), BASE_STATIONS, strict=True):
        add("plate", PLATE, device, now - timedelta(minutes=minutes))
        add("phone", PHONE_SUBJECT, device, now - timedelta(minutes=minutes, seconds=-30))
    add("plate", "浙C00000", "BS-0001", now - timedelta(minutes=35))
    live.platform.lake.append(frame(rows))


def _open_case(live: LiveCity, member: str) -> str:
    now = datetime.now(UTC)
    with live.api() as client:
        answer = client.post(
            "/api/v1/cases",
            json={
                "title": "Plate seen at three junctions 套牌车",
                "basis": "report 2026-1207-0042",
                "area_id": "S0101",
                "window_start": (now - timedelta(days=2)).isoformat(),
                "window_end": (now + timedelta(hours=2)).isoformat(),
                "members": [member],
            },
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _click_map_at(page: Any, lat: float, lon: float) -> None:
    x, y = page.evaluate(
        "([lon, lat]) => { const p = window.safecityMap.project([lon, lat]); return [p.x, p.y]; }", [lon, lat]
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def test_an_investigator_collides_three_windows_and_follows_the_plate(live: LiveCity, page: Any) -> None:
    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    case_id = _open_case(live, investigator.username)
    _plant(live)
    sign_in(page, live, investigator, start="/workbench", lands="/workbench")
    expect(page.locator("#case")).to_have_value(case_id)
    expect(page.locator("#map")).to_have_attribute("data-state", "ready")
    page.get_by_label("Purpose 查询目的").fill("who was at the three junctions")
    for lat, lon, _ in BASE_STATIONS.values():
        _click_map_at(page, lat, lon)
    expect(page.locator("#window-list > li")).to_have_count(3)
    expect(page.locator("#map")).to_have_attribute("data-windows", "3")
    page.get_by_label("Windows needed 至少窗口数").fill("3")
    page.get_by_role("button", name="Collide 碰撞").click()
    hit = page.locator(f'#hit-list > li[data-subject="plate:{PLATE}"]')
    expect(hit).to_be_visible()
    # The phone riding with it was there too; the decoy, seen at one junction only, is not.
    expect(page.locator("#hit-list > li")).to_have_count(2)
    expect(page.locator(f'#hit-list > li[data-subject="phone:{PHONE_SUBJECT}"]')).to_be_visible()
    expect(hit).to_contain_text("3 windows")
    expect(page.locator("#map")).to_have_attribute("data-evidence", "6")

    hit.get_by_role("button", name="Path 轨迹").click()
    expect(page.locator("#slider")).to_be_visible()
    expect(page.locator("#map")).to_have_attribute("data-path-points", "3")
    page.locator("#time-slider").fill("0")
    expect(page.locator("#slider-time")).to_contain_text("(1/3)")
    entry = page.locator(f'#path-legend > li[data-subject="plate:{PLATE}"]')
    expect(entry).to_contain_text("3 sightings")
    exported = page.request.get(live.base_url + entry.locator("a.export-csv").get_attribute("href"))
    assert exported.status == 200
    assert (
        exported.text().startswith("ts,kind,device,lat,lon,area") and len(exported.text().splitlines()) == 4
    )

    hit.get_by_role("button", name="Companions 同行").click()
    mate = page.locator(f'#mate-list > li[data-subject="phone:{PHONE_SUBJECT}"]')
    expect(mate).to_contain_text("3 places")

    hit.get_by_role("button", name="Pin 钉住").click()
    expect(page.locator("#pin-list")).to_contain_text(f"plate:{PLATE}")
    page.get_by_label("New note 新笔记").fill("同一车牌在三个路口出现")
    page.get_by_role("button", name="Add note 添加").click()
    expect(page.locator("#note-list")).to_contain_text("同一车牌在三个路口出现")
    expect(page.locator("#query-list > li")).to_have_count(2)  # the collision and the companions

    href = page.locator("#case-file").get_attribute("href")
    casefile = page.request.get(live.base_url + href)
    assert casefile.status == 200
    assert PLATE in casefile.text() and "同一车牌在三个路口出现" in casefile.text()
    pdf = page.request.get(live.base_url + page.locator("#case-file-pdf").get_attribute("href"))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")

    assert_chinese_renders(page, "研判台", "碰撞", "同行")
    shoot(page, "workbench")


def test_a_question_without_a_purpose_is_refused_on_the_page(live: LiveCity, page: Any) -> None:
    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    _open_case(live, investigator.username)
    sign_in(page, live, investigator, start="/workbench", lands="/workbench")
    expect(page.locator("#map")).to_have_attribute("data-state", "ready")
    lat, lon, _ = BASE_STATIONS["BS-0001"]
    _click_map_at(page, lat, lon)
    page.get_by_label("Windows needed 至少窗口数").fill("1")
    page.get_by_role("button", name="Collide 碰撞").click()
    expect(page.locator("#bench-error")).to_contain_text("purpose")
    expect(page.locator("#purpose-error")).to_be_visible()


@pytest.fixture(scope="module")
def roads(live: LiveCity) -> LiveCity:
    """The test city's streets, which a theft report is placed on, and its community's boundary."""
    grid = Grid(width_units=128, height_units=96, south=SOUTH, west=WEST)
    city_roads(grid, seed=3).save(live.platform.settings.city_dir / "roads.npz")
    ring = [[WEST, SOUTH], [EAST, SOUTH], [EAST, NORTH], [WEST, NORTH], [WEST, SOUTH]]
    with transaction(live.platform.session_factory) as session:
        community = session.get(Area, "C010101")
        assert community is not None
        community.boundary = {"type": "Polygon", "coordinates": [ring]}
    return live


def test_an_investigator_opens_a_case_and_takes_theft_reports_as_windows(roads: LiveCity, page: Any) -> None:
    live = roads
    now = datetime.now(UTC)
    reports = []
    for minutes, (lat, lon, _) in zip((35, 25, 15), BASE_STATIONS.values(), strict=True):
        body = IncidentIn(
            kind="theft",
            lat=lat,
            lon=lon,
            description="商铺被撬",
            reported_at=now - timedelta(minutes=minutes),
        )
        reports.append(live.platform.service(Incidents).create(SYSTEM, body, resource="test").id)
    _plant(live)
    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    sign_in(page, live, investigator, start="/workbench", lands="/workbench")
    page.locator("#open-case summary").click()
    page.get_by_label("Title 案件名称").fill("商铺盗窃系列案 shop thefts")
    page.get_by_label("Basis 立案依据").fill("reports " + ", ".join(map(str, reports)))
    page.get_by_label("Area 辖区").select_option("S0101")
    page.get_by_role("button", name="Open 立案").click()
    expect(page.locator("#bench-notice")).to_contain_text("opened")
    page.get_by_label("Purpose 查询目的").fill("who was at the three shops")
    for incident in reports:
        page.locator(f'#report-list > li[data-incident="{incident}"]').get_by_role("button").click()
    expect(page.locator("#window-list > li")).to_have_count(3)
    page.get_by_label("Windows needed 至少窗口数").fill("3")
    page.get_by_role("button", name="Collide 碰撞").click()
    expect(page.locator(f'#hit-list > li[data-subject="plate:{PLATE}"]')).to_be_visible()
    shoot(page, "workbench-reports")


def test_a_cloned_plate_is_found_on_the_page(live: LiveCity, page: Any) -> None:
    now = datetime.now(UTC)
    (lat1, lon1, _), (lat2, lon2, _) = BASE_STATIONS["BS-0001"], BASE_STATIONS["BS-0002"]
    live.platform.lake.append(
        frame(
            {
                "event_id": [f"clone-{now:%H%M%S%f}-{n}" for n in (1, 2)],
                "subject_kind": ["plate", "plate"],
                "subject": ["浙C5T168", "浙C5T168"],
                "device": ["BS-0001", "BS-0002"],
                "ts": [now - timedelta(minutes=10), now - timedelta(minutes=10) + timedelta(seconds=20)],
                "lat": [lat1, lat2],
                "lon": [lon1, lon2],
                "area": ["C010101", "C010101"],
            }
        )
    )
    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    case_id = _open_case(live, investigator.username)
    sign_in(page, live, investigator, start="/workbench", lands="/workbench")
    expect(page.locator("#case")).to_have_value(case_id)
    page.get_by_label("Purpose 查询目的").fill("cloned plates around Wuma St")
    page.get_by_role("button", name="Find cloned plates 查套牌").click()
    pair = page.locator('#clone-list > li[data-subject="plate:浙C5T168"]')
    expect(pair).to_contain_text("km/h")
    expect(pair).to_contain_text("BS-0002")


def test_the_data_catalogue_reads_at_a_desk_and_on_a_phone(live: LiveCity, page: Any) -> None:
    _plant(live)
    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    sign_in(page, live, investigator, start="/workbench", lands="/workbench")
    page.get_by_role("link", name="Data catalogue 数据目录").click()
    expect(page).to_have_url(live.base_url + "/catalogue")
    expect(page.locator('tr[data-source="records:plate_read"]')).to_have_attribute("data-status", "fresh")
    expect(page.locator('tr[data-source="table:people"]')).to_contain_text("Population 人口")
    assert_chinese_renders(page, "数据目录", "感知数据")
    shoot(page, "catalogue")


def test_the_default_window_is_the_platforms_last_hour_not_the_browsers(live: LiveCity, page: Any) -> None:
    """A demo runs its city at 30x: the platform's clock runs ahead of the browser's."""
    from safecity.core.clock import ManualClock

    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    _open_case(live, investigator.username)
    sign_in(page, live, investigator, start="/", lands="/")
    ahead = datetime.now(UTC) + timedelta(minutes=90)  # inside the case window, which ends in 2 h
    real_clock = live.platform.clock
    live.platform.clock = ManualClock(ahead)  # type: ignore[misc]
    try:
        page.goto("/workbench")
        expect(page.locator("#map")).to_have_attribute("data-state", "ready")
        lat, lon, _ = BASE_STATIONS["BS-0001"]
        _click_map_at(page, lat, lon)
        end = page.locator("#w0-end").input_value()
    finally:
        live.platform.clock = real_clock  # type: ignore[misc]
    shown = datetime.fromisoformat(end)  # the browser's local time, UTC here
    assert abs(shown.replace(tzinfo=UTC) - ahead) < timedelta(minutes=2), (end, ahead)


SUSPECT_PHONE, ACCOMPLICE_PLATE = "13957700042", "浙C9P2M7"


def _plant_pair(live: LiveCity) -> str:
    """The accomplice's plate by each base station 40, 30 and 20 minutes ago and again by the last 5
    minutes ago (a stay), the suspect's phone 30 s after the plate each time; answers the phone's
    pseudonym, as the lake holds it."""
    now = datetime.now(UTC)
    phone = live.platform.pseudonyms.pseudonym(SUSPECT_PHONE)
    seen = [
        (kind, who, device, now - timedelta(minutes=minutes, seconds=-lag))
        for minutes, device in zip((40, 30, 20), BASE_STATIONS, strict=True)
        for kind, who, lag in (("plate", ACCOMPLICE_PLATE, 0), ("phone", phone, 30))
    ]
    seen.append(("plate", ACCOMPLICE_PLATE, "BS-0003", now - timedelta(minutes=5)))
    rows: dict[str, list[Any]] = {
        "event_id": [f"pair-{now:%H%M%S%f}-{n}" for n in range(len(seen))],
        "subject_kind": [k for k, _, _, _ in seen],
        "subject": [w for _, w, _, _ in seen],
        "device": [d for _, _, d, _ in seen],
        "ts": [t for _, _, _, t in seen],
        "lat": [BASE_STATIONS[d][0] for _, _, d, _ in seen],
        "lon": [BASE_STATIONS[d][1] for _, _, d, _ in seen],
        "area": ["C010101"] * len(seen),
    }
    live.platform.lake.append(frame(rows))
    return phone


def _at(device: str) -> str:
    lat, lon, _ = BASE_STATIONS[device]
    return f"{lat:.6f},{lon:.6f}"


def test_a_suspects_phone_and_an_accomplices_plate_share_the_map_and_the_slider(
    live: LiveCity, page: Any
) -> None:
    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    case_id = _open_case(live, investigator.username)
    phone = _plant_pair(live)
    sign_in(page, live, investigator, start="/workbench", lands="/workbench")
    expect(page.locator("#case")).to_have_value(case_id)
    expect(page.locator("#map")).to_have_attribute("data-state", "ready")
    page.get_by_label("Purpose 查询目的").fill("where the suspect met the accomplice")

    # The plate typed (as people write it), the phone from a collision's result.
    page.get_by_label("Kind 类型").select_option("plate")
    page.get_by_label("Subject 对象").fill(ACCOMPLICE_PLATE.lower())
    page.get_by_role("button", name="Add path 加轨迹").click()
    plate = page.locator(f'#path-legend > li[data-subject="plate:{ACCOMPLICE_PLATE}"]')
    expect(plate).to_contain_text("4 sightings · 1 stay")
    lat, lon, _ = BASE_STATIONS["BS-0002"]
    _click_map_at(page, lat, lon)
    page.get_by_label("Windows needed 至少窗口数").fill("1")
    page.get_by_role("button", name="Collide 碰撞").click()
    page.locator(f'#hit-list > li[data-subject="phone:{phone}"]').get_by_role(
        "button", name="Path 轨迹"
    ).click()
    mate = page.locator(f'#path-legend > li[data-subject="phone:{phone}"]')
    expect(mate).to_contain_text("3 sightings")

    # Two legend entries, each naming its subject and kind, in two colours; both paths and the stay drawn.
    expect(page.locator("#path-legend > li")).to_have_count(2)
    expect(plate.locator(".path-name")).to_have_text(f"plate {ACCOMPLICE_PLATE}")
    expect(mate.locator(".path-name")).to_have_text(f"phone {phone}")
    colour = "el => getComputedStyle(el).backgroundColor"
    colours = {plate.locator(".path-swatch").evaluate(colour), mate.locator(".path-swatch").evaluate(colour)}
    assert len(colours) == 2, colours
    expect(page.locator("#map")).to_have_attribute("data-paths", "2")
    expect(page.locator("#map")).to_have_attribute("data-path-points", "7")
    expect(page.locator("#map")).to_have_attribute("data-stays", "1")

    # One slider for both: seven moments; each marker where its subject was last seen at the moment.
    plate_marker = page.locator(f'.path-cursor[data-subject="plate:{ACCOMPLICE_PLATE}"]')
    phone_marker = page.locator(f'.path-cursor[data-subject="phone:{phone}"]')
    slider = page.locator("#time-slider")
    slider.fill("1")
    expect(page.locator("#slider-time")).to_contain_text("(2/7)")
    expect(plate_marker).to_have_attribute("data-at", _at("BS-0001"))
    expect(phone_marker).to_have_attribute("data-at", _at("BS-0001"))
    before = [plate_marker.bounding_box(), phone_marker.bounding_box()]
    slider.fill("3")
    expect(page.locator("#slider-time")).to_contain_text("(4/7)")
    expect(plate_marker).to_have_attribute("data-at", _at("BS-0002"))
    expect(phone_marker).to_have_attribute("data-at", _at("BS-0002"))
    after = [plate_marker.bounding_box(), phone_marker.bounding_box()]
    for was, now in zip(before, after, strict=True):
        assert abs(was["x"] - now["x"]) + abs(was["y"] - now["y"]) > 20, (was, now)
    slider.fill("0")  # the plate's first sighting: the phone is not seen yet
    expect(phone_marker).to_have_class(re.compile(r"\bis-unseen\b"))
    expect(mate).to_contain_text("Not seen yet")
    slider.fill("3")

    # The table: every sighting with its subject, the stay where it began.
    page.locator("#path-table summary").click()
    expect(page.locator("#path-rows > tr")).to_have_count(7)
    expect(page.locator(f'#path-rows > tr[data-subject="phone:{phone}"]')).to_have_count(3)
    expect(page.locator("#path-rows")).to_contain_text("min 停留")
    page.get_by_label("Show 显示").select_option(f"plate:{ACCOMPLICE_PLATE}")
    expect(page.locator("#path-rows > tr")).to_have_count(4)
    page.get_by_label("Show 显示").select_option("")

    # Per subject: one never seen says so, a refused one shows the refusal; the two paths stay drawn.
    page.get_by_label("Subject 对象").fill("浙A0000X")
    page.get_by_role("button", name="Add path 加轨迹").click()
    expect(page.locator('#path-legend > li[data-subject="plate:浙A0000X"]')).to_contain_text("No sightings")
    page.get_by_label("Purpose 查询目的").fill("")
    page.get_by_label("Subject 对象").fill("浙B1111Y")
    page.get_by_role("button", name="Add path 加轨迹").click()
    refused = page.locator('#path-legend > li[data-subject="plate:浙B1111Y"]')
    expect(refused).to_have_attribute("data-state", "refused")
    expect(refused).to_contain_text("purpose")
    expect(page.locator("#map")).to_have_attribute("data-paths", "2")

    assert_chinese_renders(page, "轨迹", "轨迹明细", "停留")
    shoot(page, "workbench-paths")

    plate.get_by_role("button", name=f"Remove plate {ACCOMPLICE_PLATE} from the map 移除").click()
    expect(page.locator("#path-legend > li")).to_have_count(3)
    expect(plate_marker).to_have_count(0)
    expect(phone_marker).to_have_count(1)
    expect(page.locator("#map")).to_have_attribute("data-paths", "1")
    expect(page.locator("#slider-time")).to_contain_text("/3)")
