"""The phone pages of places in real Chromium at 390 px: a landlord registers a tenant from the card
reader's JSON (and one typed, after a refused number), sees occupancy and checks a tenant out; the
community officer works the visit list (an outcome, a flat visited) with the round on the map."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity import registry
from safecity.core.context import SYSTEM
from safecity.core.finding import Evidence, Finding, Ref
from safecity.places import Places, VisitFilter, Visits
from safecity.places.models import Door
from safecity.places.schemas import BuildingIn, CompoundIn, FlatIn, IdCardIn, LandlordIn, TenantIn
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.store import transaction
from tests.browser.livecity import Credentials, LiveCity, valid_id_number, watched_page
from tests.browser.test_chinese_text import assert_chinese_renders, shoot
from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
COMMUNITY = "C010101"
TENANT_NAME, TENANT_ADDRESS = "陈平", "浙江省温州市鹿城区五马街1号"
QUIET_NAME = "赵强"
_serial = itertools.count(1)


@pytest.fixture
def phone(browser: Any, live: LiveCity) -> Iterator[Any]:
    """A fresh phone-sized page; the test fails on any uncaught error or CSP violation in it."""
    with watched_page(browser, live.base_url, **PHONE) as fresh:
        yield fresh


def _compound(live: LiveCity, community: str = COMMUNITY, name: str = "蝉街小区") -> str:
    """A compound of a community (the test city's) with buildings 3号楼 and 5号楼 near Wuma Street."""
    n = next(_serial)
    places = live.platform.service(Places)
    compound = f"CPW{n}"
    places.add_compound(
        SYSTEM,
        CompoundIn(id=compound, name=name, community_id=community, lat=28.006, lon=120.657),
        resource="setup",
    )
    for building, name, lat in ((f"B{n}a", "3号楼", 28.0065), (f"B{n}b", "5号楼", 28.0080)):
        places.add_building(
            SYSTEM,
            BuildingIn(id=building, compound_id=compound, name=name, lat=lat, lon=120.658),
            resource="setup",
        )
    return compound


def _landlord(live: LiveCity) -> tuple[Credentials, dict[str, int]]:
    """A landlord's account letting flats 3-201 (capacity 2), 3-202 and 3-203 (capacity 1) of a new
    compound with a door controller at its gate; 3-203's tenant moved in a month ago, never swiped."""
    compound = _compound(live)
    account = live.account(Role.LANDLORD)
    places = live.platform.service(Places)
    landlord = places.add_landlord(
        SYSTEM,
        LandlordIn(
            id_number=valid_id_number(f"33030219700101{next(_serial) % 1000:03d}"),
            name="李明",
            account=account.username,
        ),
        resource="setup",
    )
    building = f"B{compound.removeprefix('CPW')}a"
    flats = {}
    for number, capacity in (("3-201", 2), ("3-202", 1), ("3-203", 1)):
        body = FlatIn(building_id=building, number=number, capacity=capacity, landlord_id=landlord.id)
        flats[number] = places.add_flat(SYSTEM, body, resource="setup").id
    with transaction(live.platform.session_factory) as session:
        device = f"DOOR-{compound}"
        registry.create_device(
            session,
            device_id=device,
            kind="door_controller",
            name="Gate",
            lat=28.006,
            lon=120.657,
            area_id=COMMUNITY,
            now=live.platform.clock.now(),
        )
        session.flush()
        session.add(Door(device_id=device, compound_id=compound, name="南门"))
    card = IdCardIn(id_number=valid_id_number(f"33030219820202{next(_serial) % 1000:03d}"), name=QUIET_NAME)
    month_ago = datetime.now(UTC) - timedelta(days=30)
    places.register_tenant(SYSTEM, flats["3-203"], TenantIn(card=card, starts_at=month_ago), resource="setup")
    return account, flats


def test_a_landlord_registers_a_tenant_from_the_reader_sees_occupancy_and_checks_out(
    live: LiveCity, phone: Any
) -> None:
    landlord, flats = _landlord(live)
    sign_in(phone, live, landlord, start="/landlord", lands="/landlord")
    items = phone.locator("#flat-list .flat-item")
    expect(items).to_have_count(3)
    first = phone.locator(f'.flat-item[data-flat="{flats["3-201"]}"]')
    expect(first).to_contain_text("0 / 2 tenants")
    expect(first).to_contain_text("蝉街小区 3号楼")  # where it is, by name
    # The tenant of a month who never opened the gate is asked about; those of today are not yet.
    quiet = phone.locator("#quiet-list .quiet-item")
    expect(quiet).to_have_count(1)
    expect(quiet).to_contain_text(QUIET_NAME)
    expect(quiet).to_contain_text("never at the door · 30 days")

    number = valid_id_number("33030219900307123")
    reader = {
        "id_number": number,
        "name": TENANT_NAME,
        "sex": "男",
        "ethnicity": "汉",
        "birth_date": "19900307",
        "address": TENANT_ADDRESS,
        "issuing_authority": "温州市公安局鹿城分局",
        "valid_from": "20150101",
        "valid_until": "长期",
    }
    phone.locator("#reader-json").fill(json.dumps(reader, ensure_ascii=False))
    phone.get_by_role("button", name="Fill in from reader").click()
    expect(phone.locator("#tenant-name")).to_have_value(TENANT_NAME)
    expect(phone.locator("#tenant-birth_date")).to_have_value("1990-03-07")
    expect(phone.locator("#tenant-valid_until")).to_have_value("")
    phone.locator("#tenant-flat").select_option(str(flats["3-201"]))
    phone.get_by_role("button", name="Register tenant").click()
    expect(phone.locator("#flats-notice")).to_contain_text(f"{TENANT_NAME} is registered")
    expect(first).to_contain_text("1 / 2 tenants")
    expect(first.locator(".tenant-item")).to_contain_text(TENANT_NAME)
    expect(first.locator(".tenant-item")).to_contain_text(number[:6] + "********" + number[-4:])

    # Typed in, with a wrong check digit first: the refusal sits under the number's field.
    typed = valid_id_number("33030219850101005")
    wrong = typed[:-1] + ("0" if typed[-1] != "0" else "1")
    phone.locator("#tenant-flat").select_option(str(flats["3-202"]))
    phone.get_by_label("Identity number").fill(wrong)
    phone.get_by_label("Name", exact=True).fill("王芳")
    phone.get_by_role("button", name="Register tenant").click()
    expect(phone.locator("#tenant-id_number-error")).to_be_visible()
    expect(phone.locator("#tenant-id_number")).to_have_attribute("aria-invalid", "true")
    phone.get_by_label("Identity number").fill(typed)
    phone.get_by_role("button", name="Register tenant").click()
    second = phone.locator(f'.flat-item[data-flat="{flats["3-202"]}"]')
    expect(second).to_contain_text("1 / 1 tenants")
    expect(second.locator(".tenant-item")).to_contain_text("王芳")
    assert_chinese_renders(phone, TENANT_NAME, "王芳")
    shoot(phone, "landlord")
    phone.set_viewport_size(PHONE)

    expect(first.locator(".tenants")).to_be_visible()  # opened by the registration
    check_out = first.locator(".tenant-item").get_by_role("button", name="Check out")
    check_out.click()
    first.locator(".tenant-item").get_by_role("button", name="Confirm check-out").click()
    expect(phone.locator("#flats-notice")).to_contain_text("checked out")
    expect(first).to_contain_text("0 / 2 tenants")
    # The tenant of a month who never opened the gate is asked about; those of today are not yet.
    quiet = phone.locator("#quiet-list .quiet-item")
    expect(quiet).to_have_count(1)
    expect(quiet).to_contain_text(QUIET_NAME)
    expect(quiet).to_contain_text("never at the door · 30 days")
    wide = phone.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the landlord page is {wide} px wide on a phone"


def _warn(
    live: LiveCity, compound: str, *, flat: int | None, building: str, severity: str, title: str
) -> str:
    n = next(_serial)
    now = datetime.now(UTC)
    evidence = Evidence(
        event_id=f"ev-page-{n}",
        corr_id=f"corr-page-{n}",
        kind="door_swipe",
        subject=f"pseudonym-{n}",
        device="DOOR-W",
        ts=now,
        lat=None,
        lon=None,
        area=COMMUNITY,
        code="granted",
    )
    refs = [Ref("compound", compound), Ref("building", building)]
    if flat is not None:
        refs.append(Ref("flat", str(flat)))
    finding = Finding(
        rule="housing-group-renting",
        rule_kind="housing_group_renting",
        severity=severity,
        title=title,
        subject_kind="flat",
        subject=str(flat or building),
        dedup_key=f"page-{n}",
        at=now,
        evidence=(evidence,),
        refs=tuple(refs),
    )
    # From a thread of its own, as the rule engine would: this thread runs Playwright's event loop,
    # on which the alert service would otherwise schedule its notice (never reaching the server's bus).
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(live.platform.alerts.apply_findings, [finding]).result()[0].alert_id


def test_the_officer_records_an_outcome_on_the_visit_list_with_the_round_on_the_map(
    live: LiveCity, phone: Any
) -> None:
    compound = _compound(live)
    n = compound.removeprefix("CPW")
    flat = live.platform.service(Places).add_flat(
        SYSTEM, FlatIn(building_id=f"B{n}a", number="3-301", capacity=2), resource="setup"
    )
    alerts = {
        _warn(
            live,
            compound,
            flat=flat.id,
            building=f"B{n}a",
            severity="high",
            title="群租：一户刷卡人数超过容量",
        ),
        _warn(live, compound, flat=None, building=f"B{n}b", severity="low", title="夜间异常进出"),
    }
    visits = live.platform.service(Visits)
    deadline = time.monotonic() + 10
    everyone = SYSTEM
    while not alerts <= {
        t.alert_id
        for p in visits.tasks(everyone, VisitFilter(status="all"), resource="test").places
        for f in p.flats
        for t in f.tasks
    }:
        assert time.monotonic() < deadline, "the visit list did not take the warnings"
        time.sleep(0.1)

    officer = live.account(Role.COMMUNITY_OFFICER, areas=(COMMUNITY,))
    sign_in(phone, live, officer, start="/visits", lands="/visits")
    place = phone.locator(f'.place-item[data-place="building:B{n}a"]')
    expect(place).to_contain_text("蝉街小区 · 3号楼")
    expect(place).to_contain_text("群租：一户刷卡人数超过容量")
    expect(phone.locator("#map")).to_have_attribute("data-state", "ready")
    expect(phone.locator("#round-summary")).to_contain_text("places")
    assert int(phone.locator("#map").get_attribute("data-path-points") or 0) >= 2
    assert_chinese_renders(phone, "蝉街小区", "群租")
    shoot(phone, "visits")
    phone.set_viewport_size(PHONE)

    # Standing by 5号楼, the round starts there: its place becomes stop 1 (the list keeps its order).
    phone.context.grant_permissions(["geolocation"])
    phone.context.set_geolocation({"latitude": 28.0081, "longitude": 120.658})
    phone.get_by_role("button", name="Start from where I am").click()
    expect(phone.locator("#round-summary")).to_contain_text("from where you are")
    other_place = phone.locator(f'.place-item[data-place="building:B{n}b"]')
    expect(other_place.locator(".stop-num")).to_have_text("1")
    expect(place.locator(".stop-num")).to_have_text("2")
    expect(phone.locator(".place-item").first).to_have_attribute("data-place", f"building:B{n}a")
    expect(phone.locator("#map .you-are-here")).to_have_count(1)
    shoot(phone, "visits-round")
    phone.set_viewport_size(PHONE)

    place.get_by_role("button", name="Visited today").click()
    expect(phone.locator("#visits-notice")).to_contain_text("Flat 3-301 marked visited on")
    expect(place).to_contain_text(re.compile(r"visited \d{4}-\d{2}-\d{2}"))

    task = place.locator(".task-item").first
    task.locator("textarea").fill("三人合租，已登记两人，已提醒房东")
    task.get_by_role("button", name="Confirmed").click()
    expect(phone.locator("#visits-notice")).to_contain_text("confirmed recorded")
    expect(phone.locator(".precision-table")).to_contain_text("housing-group-renting")
    expect(phone.locator(".precision-table")).to_contain_text("100 %")
    expect(place).to_have_count(0)  # its one task is done
    phone.locator("#visit-status").select_option("done")
    expect(place.locator(".task-item[data-status='done']")).to_contain_text("Confirmed")
    expect(place).to_contain_text(re.compile(r"visited \d{4}-\d{2}-\d{2}"))  # someone answered the door
    shoot(phone, "visits-done")
    phone.set_viewport_size(PHONE)
    phone.locator("#visit-status").select_option("open")
    other = phone.locator(f'.place-item[data-place="building:B{n}b"]')
    expect(other).to_contain_text("Whole building")
    wide = phone.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the visit list is {wide} px wide on a phone"


def _wait_for_tasks(live: LiveCity, alerts: set[str]) -> None:
    visits = live.platform.service(Visits)
    deadline = time.monotonic() + 10
    while not alerts <= {
        t.alert_id
        for p in visits.tasks(SYSTEM, VisitFilter(status="all"), resource="test").places
        for f in p.flats
        for t in f.tasks
    }:
        assert time.monotonic() < deadline, "the visit list did not take the warnings"
        time.sleep(0.1)


def test_an_officer_of_two_communities_narrows_the_list_to_one(live: LiveCity, phone: Any) -> None:
    with transaction(live.platform.session_factory) as session:
        if session.get(Area, "C010102") is None:
            session.add(
                Area(id="C010102", kind="community", name="蝉街社区", parent_id="S0101", station_id="S0101")
            )
    here, there = _compound(live), _compound(live, "C010102", "百里坊")
    alerts = {
        _warn(
            live,
            here,
            flat=None,
            building=f"B{here.removeprefix('CPW')}a",
            severity="low",
            title="夜间异常进出",
        ),
        _warn(
            live,
            there,
            flat=None,
            building=f"B{there.removeprefix('CPW')}a",
            severity="low",
            title="夜间异常进出",
        ),
    }
    _wait_for_tasks(live, alerts)
    officer = live.account(Role.COMMUNITY_OFFICER, areas=(COMMUNITY, "C010102"))
    sign_in(phone, live, officer, start="/visits", lands="/visits")
    there_place = phone.locator(f'.place-item[data-place="building:B{there.removeprefix("CPW")}a"]')
    expect(there_place).to_contain_text("百里坊 · 3号楼")
    chooser = phone.get_by_label("Community")
    expect(chooser).to_be_visible()
    chooser.select_option(label="蝉街社区")
    expect(phone.locator(".place-item")).to_have_count(1)
    expect(there_place).to_be_visible()
    assert_chinese_renders(phone, "百里坊")
