"""Every route declares its access rule, and the rule holds for every role, in and out of area.

The expectation is computed from the permission table alone (security/roles.py): a role without
the route's permission is refused (403); an area-scoped account asking about another area is
refused (403); everything else is allowed (any answer but 401/403). A route added without a
sample request here fails `test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from safecity import registry
from safecity.alerts.webhook import HookOwner
from safecity.security.roles import CITY_WIDE, Permission, Role
from safecity.store import transaction
from safecity.web.app import create_app
from safecity.web.auth import RouteInfo, app_routes
from tests.security.conftest import ID_NUMBERS, IN, NOW, OUT, SITE, RoleAccount, World, error_code

FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
WINDOW = {"start": (NOW - timedelta(days=2)).isoformat(), "end": NOW.isoformat()}
JUSTIFY = {"purpose": "theft investigation"}


@dataclass(frozen=True)
class Call:
    """One request: method, path, and optionally query, JSON body, form, extra headers."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    stream: bool = False


# (method, route path) -> (area-bound?, build(world, account, where) -> Call)
Builder = Callable[[World, RoleAccount, str], Call]


def _case(world: World, who: RoleAccount, where: str) -> dict[str, str]:
    """Justification parameters: the account's own case, if its role can have one."""
    return {"case_id": who.case_id or world.other_case, **JUSTIFY}


def _worked(world: World, who: RoleAccount, where: str) -> str:
    """The account's own case in its area, else a case in the other area none of the accounts works."""
    return (who.case_id or world.other_case) if where == IN else world.other_case


def _closable(world: World, who: RoleAccount, where: str) -> str:
    """A fresh case of the account's in its area (if its role works cases), else someone else's."""
    return world.case(who) if where == IN and who.case_id else world.other_case


def _own_webhook(world: World, who: RoleAccount) -> str:
    """A webhook the account owns (another's would be "not found" to it)."""
    owner = HookOwner(who.account_id, who.username)
    return world.platform.alerts.create_webhook(url="https://hooks.example/y", owner=owner)[0].id


def _claim(world: World, where: str) -> int:
    """An open claim about the site's person: a bike registered to them by someone else."""
    now = world.platform.clock.now()
    with transaction(world.platform.session_factory) as session:
        person = registry.get_person(session, person_id=world.people[where])
        assert person is not None
        started = registry.verification.start(
            session,
            purpose=registry.verification.BIKE_OWNER,
            subject=str(world.new_bike(where)),
            person=person,
            requested_by="setup",
            requested_unit="",
            ttl=timedelta(hours=1),
            message="{code}",
            now=now,
        )
        return started.verification.id


def _wanted(world: World) -> str:
    """The identity number of a newly registered person (listed by number; nobody listed yet)."""
    number = world.id_number()
    with transaction(world.platform.session_factory) as session:
        registry.get_or_create_person(
            session,
            id_number=number,
            name="Wanted",
            phone=None,
            now=NOW,
            pseudonymize=world.platform.pseudonyms.pseudonym,
        )
    return number


def _door(world: World, where: str) -> str:
    """A new door controller at the site's compound gate."""
    from safecity.core.context import SYSTEM
    from safecity.places import Doors
    from safecity.places.door_schemas import DoorIn

    device_id = f"DC-{next(world.serial)}"
    body = DoorIn(device_id=device_id, name="gate", compound_id=f"CP-{where}", lat=28.0, lon=120.65)
    world.platform.service(Doors).add_door(SYSTEM, body, resource="setup")
    return device_id


def _visit(world: World, where: str) -> int:
    """A new visit task in the site's compound (a housing warning taken straight, not over the bus)."""
    from safecity.core.finding import Ref
    from safecity.places import RaisedWarning, Visits

    n = next(world.serial)
    warning = RaisedWarning(
        alert_id=f"MATRIX{n:020d}",
        rule="housing-matrix",
        rule_kind="housing_matrix",
        severity="low",
        title="matrix",
        refs=(Ref("compound", f"CP-{where}"),),
        at=NOW,
    )
    [task] = world.platform.service(Visits).take([warning])
    return task


def _site(where: str, key: str) -> str:
    return str(SITE[where][key])


def _review(world: World, where: str) -> int:
    """A new pending face review at the site's community (no image, no enrolment behind it)."""
    from safecity.recognition.models import FaceReview

    n = next(world.serial)
    with transaction(world.platform.session_factory) as session:
        review = FaceReview(
            event_id=f"face-{where}-{n}",
            entry_id=100_000 + n,
            list_kind="fugitive",
            reference=f"F-TEST{n}",
            device=_site(where, "device"),
            area=_site(where, "community"),
            ts=NOW,
            status="pending",
            created_at=NOW,
        )
        session.add(review)
        session.flush()
        return review.id


def _sighting(world: World, where: str) -> int:
    """A new face sighting at the site's community (its image is not kept)."""
    from safecity.recognition.models import FaceSighting

    n = next(world.serial)
    with transaction(world.platform.session_factory) as session:
        sighting = FaceSighting(
            image_id=f"IMG{where}{n}",
            device=_site(where, "device"),
            area=_site(where, "community"),
            ts=NOW,
            box=[0, 0, 10, 10],
            embedding=bytes(512),
            size_px=10,
            sharpness=1.0,
            matched=False,
        )
        session.add(sighting)
        session.flush()
        return sighting.id


def _hit(world: World, where: str) -> int:
    """A new checkpoint hit at the site's community (a wanted plate read by its camera)."""
    from safecity.recognition.models import CheckpointHit

    n = next(world.serial)
    with transaction(world.platform.session_factory) as session:
        hit = CheckpointHit(
            event_id=f"read-{where}-{n}",
            corr_id=f"read-{where}-{n}",
            device=_site(where, "device"),
            area=_site(where, "community"),
            ts=NOW,
            plate_read="浙C12345",
            entry_id=1,
            list_kind="wanted_vehicle",
            listed_plate="浙C12345",
            distance=0.0,
            priority=1,
            action="alert",
            status="new",
            created_at=NOW,
        )
        session.add(hit)
        session.flush()
        return hit.id


def _tracker(world: World, where: str) -> str:
    """A new tracker device in the site's community."""
    device_id = f"TRK-{where}-{next(world.serial)}"
    with transaction(world.platform.session_factory) as session:
        registry.create_device(
            session,
            device_id=device_id,
            kind="tracker",
            name=device_id,
            lat=None,
            lon=None,
            area_id=_site(where, "community"),
            now=NOW,
        )
    return device_id


def _elder_number(world: World) -> str:
    """A valid identity number nobody has, born from 1930 (`world.id_number` repeats after 1,000)."""
    from datetime import date

    from safecity.core.ids import id_number_check_char

    first17 = f"330302{date(1930, 1, 1) + timedelta(days=next(world.serial)):%Y%m%d}021"
    return first17 + id_number_check_char(first17)


def _wearer_body(world: World, where: str) -> dict[str, Any]:
    """Enrolment of a new wearer of the site; IN, the test citizen's person is their guardian."""
    guardian_number = ID_NUMBERS[IN] if where == IN else _elder_number(world)
    return {
        "id_number": _elder_number(world),
        "name": "Wearer",
        "area_id": _site(where, "community"),
        "device_ids": [_tracker(world, where)],
        "consent": {
            "given_by_id_number": guardian_number,
            "given_by_name": "Guardian",
            "capacity": "guardian",
            "basis": "form 1",
        },
        "guardians": [
            {"id_number": guardian_number, "name": "Guardian", "relation": "son", "phone": "13900000000"}
        ],
    }


def _wearer(world: World, where: str) -> int:
    """A new wearer of the site (see `_wearer_body`)."""
    from safecity.core.context import SYSTEM
    from safecity.tracking.wearer_schemas import WearerIn
    from safecity.tracking.wearers import Wearers

    body = WearerIn.model_validate(_wearer_body(world, where))
    return world.platform.service(Wearers).enrol(SYSTEM, body, resource="setup").id


def _wearer_part(world: World, where: str, part: str) -> tuple[int, int]:
    """A new wearer of the site and the id of its first guardian or consent."""
    from safecity.core.context import SYSTEM
    from safecity.tracking.wearers import Wearers

    wearer_id = _wearer(world, where)
    wearers = world.platform.service(Wearers)
    rows = (wearers.guardians if part == "guardian" else wearers.consents)(
        SYSTEM, wearer_id, resource="setup"
    )
    return wearer_id, rows[0].id


def _wearer_route(method: str, tail: str = "", json: Any = None) -> tuple[bool, Builder]:
    """An area-bound route about one new wearer of the site."""
    return (True, lambda w, a, where: Call(method, f"/api/v1/wearers/{_wearer(w, where)}{tail}", json=json))


def _unit_body(world: World, where: str) -> dict[str, Any]:
    """A new unit of the site's station (a fresh call sign each time)."""
    site = SITE[where]
    return {
        "id": f"U{next(world.serial)}",
        "kind": "car",
        "department": "patrol",
        "station_id": site["station"],
        "area_id": site["station"],
        "home_lat": site["lat"],
        "home_lon": site["lon"],
    }


def _missing(world: World, where: str) -> int:
    """An open missing-person report about a new wearer of the site."""
    from safecity.core.context import SYSTEM
    from safecity.tracking.missing import MissingPersons
    from safecity.tracking.missing_schemas import MissingIn

    report = MissingIn(circumstances="set-up")
    missing = world.platform.service(MissingPersons)
    return missing.report(SYSTEM, _wearer(world, where), report, resource="setup").id


def _missing_route(method: str, tail: str = "", json: Any = None) -> tuple[bool, Builder]:
    """An area-bound route about one new missing-person report of the site."""
    return (True, lambda w, a, where: Call(method, f"/api/v1/missing/{_missing(w, where)}{tail}", json=json))


_GUARDIAN_IN = {
    "id_number": "11010519491231002X",
    "name": "Guardian",
    "relation": "son",
    "phone": "13900000009",
}
_CONSENT_IN = {
    "given_by_id_number": "11010519491231002X",
    "given_by_name": "G",
    "capacity": "self",
    "basis": "form",
}
_ZONES_IN = {"zones": [{"name": "home", "lat": 28.0, "lon": 120.65, "radius_m": 300}]}


def _hazmat(world: World, where: str, key: str) -> Any:
    return world.hazmat[where][key]


def _hazmat_shipment(world: World, where: str) -> dict[str, Any]:
    """A valid shipment between the site's two hazmat sites on its tracker."""
    site = world.hazmat[where]
    lon, lat = float(SITE[where]["lon"]), float(SITE[where]["lat"])  # type: ignore[arg-type]
    return {
        "un_number": "1203",
        "quantity": 1,
        "consignor_site_id": site["sites"][0],
        "consignee_site_id": site["sites"][1],
        "carrier": "c",
        "plate": "浙C12345",
        "device_id": site["tracker"],
        "terminal": site["terminal"],
        "route": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.01, lat]]},
        "depart_from": NOW.isoformat(),
        "depart_until": NOW.isoformat(),
        "arrive_from": NOW.isoformat(),
        "arrive_until": NOW.isoformat(),
    }


MATRIX: dict[tuple[str, str], tuple[bool, Builder]] = {
    # --- alerts
    ("GET", "/api/v1/alerts"): (
        True,
        lambda w, a, where: Call("GET", "/api/v1/alerts", params={"station_id": _site(where, "station")}),
    ),
    ("GET", "/api/v1/alerts/stream"): (
        False,
        lambda w, a, where: Call("GET", "/api/v1/alerts/stream", stream=True),
    ),
    ("GET", "/api/v1/alerts/precision"): (False, lambda w, a, where: Call("GET", "/api/v1/alerts/precision")),
    ("GET", "/api/v1/alerts/{alert_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/alerts/{w.alert(where)}"),
    ),
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/alerts/{w.alert(where)}/acknowledge", json={"note": "seen"}
        ),
    ),
    ("POST", "/api/v1/alerts/{alert_id}/dispatch"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/alerts/{w.alert(where, acknowledged=True)}/dispatch", json={}
        ),
    ),
    ("POST", "/api/v1/alerts/{alert_id}/close"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/alerts/{w.alert(where)}/close", json={"outcome": "false_alarm", "note": "x"}
        ),
    ),
    ("GET", "/api/v1/alerts/{alert_id}/cap"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/alerts/{w.alert(where)}/cap"),
    ),
    # --- webhooks
    ("POST", "/api/v1/webhooks"): (
        False,
        lambda w, a, where: Call("POST", "/api/v1/webhooks", json={"url": "https://hooks.example/x"}),
    ),
    ("GET", "/api/v1/webhooks"): (False, lambda w, a, where: Call("GET", "/api/v1/webhooks")),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): (
        False,
        lambda w, a, where: Call(
            "DELETE",
            f"/api/v1/webhooks/{_own_webhook(w, a)}",
        ),
    ),
    # --- registry
    ("POST", "/api/v1/bikes"): (
        False,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/bikes",
            json={
                "tag_id": f"{0xC0000000 + next(w.serial):08X}",
                "frame_number": f"FR-{next(w.serial)}",
                "model": "Yadea",
                "colour": "blue",
                "owner_id_number": "11010519491231002X",
                "owner_name": "Owner in",
            },
        ),
    ),
    ("GET", "/api/v1/bikes"): (
        False,
        lambda w, a, where: Call("GET", "/api/v1/bikes", params={"frame": "F-1"}),
    ),
    ("GET", "/api/v1/bikes/{bike_id}"): (
        False,
        lambda w, a, where: Call("GET", f"/api/v1/bikes/{w.bikes[where]}"),
    ),
    ("POST", "/api/v1/bikes/{bike_id}/stolen"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/bikes/{w.new_bike(where)}/stolen",
            json={"reported_by": "owner", "basis": "report 7", "owner_station_id": _site(where, "station")},
        ),
    ),
    ("POST", "/api/v1/watchlist/{entry_id}/close"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/watchlist/{w.entry(where)}/close", json={"status": "recovered"}
        ),
    ),
    ("GET", "/api/v1/watchlist"): (False, lambda w, a, where: Call("GET", "/api/v1/watchlist")),
    ("POST", "/api/v1/watchlist/persons"): (
        True,  # the entry's station: the lister's own by default, one in their reach if named
        lambda w, a, where: Call(
            "POST",
            "/api/v1/watchlist/persons",
            json={"id_number": _wanted(w), "basis": "warrant 9", "owner_station_id": _site(where, "station")},
        ),
    ),
    ("POST", "/api/v1/watchlist/plates"): (
        True,  # like a person's entry: the lister's station, or one in their reach
        lambda w, a, where: Call(
            "POST",
            "/api/v1/watchlist/plates",
            json={
                "plate": "浙C12345",  # a second lister meets 409: allowed, like any answer but 401/403
                "list_kind": "wanted_vehicle",
                "basis": "case 9",
                "owner_station_id": _site(where, "station"),
            },
        ),
    ),
    ("POST", "/api/v1/devices"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/devices",
            json={
                "id": f"NEW-{next(w.serial)}",
                "kind": "rfid_station",
                "name": "new",
                "area_id": _site(where, "community"),
            },
        ),
    ),
    ("POST", "/api/v1/devices/{device_id}/secret"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/devices/{w.device(where)}/secret"),
    ),
    ("POST", "/api/v1/devices/{device_id}/revoke"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/devices/{w.device(where)}/revoke"),
    ),
    ("POST", "/api/v1/devices/{device_id}/terminal"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/devices/{w.device(where, kind='tracker')}/terminal",
            json={"protocol": "gt06", "terminal": f"{next(w.serial):015d}"},
        ),
    ),
    ("GET", "/api/v1/devices"): (
        True,
        lambda w, a, where: Call("GET", "/api/v1/devices", params={"area_id": _site(where, "community")}),
    ),
    ("POST", "/api/v1/bikes/{bike_id}/owner"): (
        False,  # nothing to confirm on a bike with its owner: allowed roles get 409
        lambda w, a, where: Call("POST", f"/api/v1/bikes/{w.bikes[where]}/owner", json={"code": "123456"}),
    ),
    ("POST", "/api/v1/me/person"): (
        False,  # the test citizen is linked already: 409 for it
        lambda w, a, where: Call("POST", "/api/v1/me/person", json={"id_number": "11010519491231002X"}),
    ),
    ("POST", "/api/v1/me/person/confirm"): (
        False,
        lambda w, a, where: Call("POST", "/api/v1/me/person/confirm", json={"code": "123456"}),
    ),
    ("GET", "/api/v1/verifications"): (False, lambda w, a, where: Call("GET", "/api/v1/verifications")),
    ("POST", "/api/v1/verifications/{claim_id}/confirm"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/verifications/{_claim(w, where)}/confirm", json={"identity_card_seen": True}
        ),
    ),
    ("POST", "/api/v1/areas/import"): (
        False,  # city-wide: an administrator's
        lambda w, a, where: Call(
            "POST",
            "/api/v1/areas/import",
            params={"place_devices": "false"},
            json={
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": None,
                        "properties": {"id": f"DX{next(w.serial)}", "kind": "district", "name": "Imported"},
                    }
                ],
            },
        ),
    ),
    # --- places
    ("POST", "/api/v1/compounds"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/compounds",
            json={"id": f"CPX{next(w.serial)}", "name": "New", "community_id": _site(where, "community")},
        ),
    ),
    ("GET", "/api/v1/compounds"): (False, lambda w, a, where: Call("GET", "/api/v1/compounds")),
    ("POST", "/api/v1/buildings"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/buildings",
            json={"id": f"BX{next(w.serial)}", "compound_id": f"CP-{where}", "name": "2"},
        ),
    ),
    ("POST", "/api/v1/flats"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/flats",
            json={"building_id": f"B-{where}", "number": f"N{next(w.serial)}", "capacity": 2},
        ),
    ),
    ("GET", "/api/v1/flats"): (False, lambda w, a, where: Call("GET", "/api/v1/flats")),
    ("GET", "/api/v1/my/flats"): (False, lambda w, a, where: Call("GET", "/api/v1/my/flats")),
    ("GET", "/api/v1/my/quiet-tenants"): (
        False,
        lambda w, a, where: Call("GET", "/api/v1/my/quiet-tenants", params={"days": 7}),
    ),
    ("POST", "/api/v1/landlords"): (
        False,
        lambda w, a, where: Call("POST", "/api/v1/landlords", json={"id_number": w.id_number(), "name": "L"}),
    ),
    ("POST", "/api/v1/flats/{flat_id}/tenants"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/flats/{w.flat(where)}/tenants",
            json={"card": {"id_number": w.id_number(), "name": "T"}},
        ),
    ),
    ("GET", "/api/v1/flats/{flat_id}/tenants"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/flats/{w.flat(where)}/tenants"),
    ),
    ("POST", "/api/v1/tenancies/{tenancy_id}/check-out"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/tenancies/{w.tenancy(where)}/check-out", json={}),
    ),
    ("POST", "/api/v1/doors/{device_id}/rekey"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/doors/{_door(w, where)}/rekey"),
    ),
    ("POST", "/api/v1/doors"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/doors",
            json={
                "device_id": f"DC-{next(w.serial)}",
                "name": "gate",
                "compound_id": f"CP-{where}",
                "lat": SITE[where]["lat"],
                "lon": SITE[where]["lon"],
            },
        ),
    ),
    ("POST", "/api/v1/visitor-passes"): (
        True,  # staff: their compounds; a resident: the compound they live in
        lambda w, a, where: Call(
            "POST",
            "/api/v1/visitor-passes",
            json={
                "compound_id": f"CP-{where}",
                "id_number": w.id_number(),
                "name": "Visitor",
                "valid_until": (NOW + timedelta(hours=4)).isoformat(),
            },
        ),
    ),
    ("GET", "/api/v1/visitor-passes"): (False, lambda w, a, where: Call("GET", "/api/v1/visitor-passes")),
    ("POST", "/api/v1/visitor-passes/{pass_id}/revoke"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/visitor-passes/{w.visitor_pass(a, where)}/revoke"),
    ),
    ("POST", "/api/v1/alarm-zones"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/alarm-zones",
            json={
                "device_id": w.device(where, kind="alarm_panel"),
                "zone": "Z1",
                "name": "fence",
                "compound_id": f"CP-{where}",
            },
        ),
    ),
    ("POST", "/api/v1/vehicles"): (
        True,  # staff: their compounds; a resident: the compound they live in
        lambda w, a, where: Call(
            "POST",
            "/api/v1/vehicles",
            json={"compound_id": f"CP-{where}", "plate": f"浙C{next(w.serial):05d}"},
        ),
    ),
    ("GET", "/api/v1/vehicles"): (False, lambda w, a, where: Call("GET", "/api/v1/vehicles")),
    ("GET", "/api/v1/alarm-zones"): (False, lambda w, a, where: Call("GET", "/api/v1/alarm-zones")),
    # --- hazardous chemicals (tracking)
    ("POST", "/api/v1/hazmat/products"): (
        False,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/hazmat/products",
            json={"un_number": f"{2000 + next(w.serial):04d}", "name": "x", "hazard_class": "3"},
        ),
    ),
    ("GET", "/api/v1/hazmat/products"): (False, lambda w, a, where: Call("GET", "/api/v1/hazmat/products")),
    ("POST", "/api/v1/hazmat/sites"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/hazmat/sites",
            json={
                "name": "s",
                "area_id": _site(where, "community"),
                "lat": 28.0,
                "lon": 120.6,
                "licence": "L",
            },
        ),
    ),
    ("GET", "/api/v1/hazmat/sites"): (False, lambda w, a, where: Call("GET", "/api/v1/hazmat/sites")),
    ("POST", "/api/v1/hazmat/sites/{site_id}/movements"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/hazmat/sites/{_hazmat(w, where, 'sites')[0]}/movements",
            json={"un_number": "1203", "kind": "produced", "quantity": 1},
        ),
    ),
    ("GET", "/api/v1/hazmat/sites/{site_id}/movements"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/hazmat/sites/{_hazmat(w, where, 'sites')[0]}/movements"),
    ),
    ("GET", "/api/v1/hazmat/sites/{site_id}/stock"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/hazmat/sites/{_hazmat(w, where, 'sites')[0]}/stock"),
    ),
    ("POST", "/api/v1/hazmat/sites/{site_id}/counts"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/hazmat/sites/{_hazmat(w, where, 'sites')[0]}/counts",
            json={"un_number": "1203", "quantity": 0},
        ),
    ),
    ("POST", "/api/v1/hazmat/zones"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/hazmat/zones",
            json={
                "kind": "permitted_stop",
                "category": "depot",
                "name": f"depot {next(w.serial)}",
                "area_id": _site(where, "community"),
                "geometry": {"type": "Circle", "center": [120.6, 28.0], "radius_m": 100},
            },
        ),
    ),
    ("GET", "/api/v1/hazmat/zones"): (False, lambda w, a, where: Call("GET", "/api/v1/hazmat/zones")),
    ("POST", "/api/v1/hazmat/shipments"): (
        True,
        lambda w, a, where: Call("POST", "/api/v1/hazmat/shipments", json=_hazmat_shipment(w, where)),
    ),
    ("GET", "/api/v1/hazmat/shipments"): (False, lambda w, a, where: Call("GET", "/api/v1/hazmat/shipments")),
    ("GET", "/api/v1/hazmat/shipments/{shipment_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/hazmat/shipments/{_hazmat(w, where, 'shipment')}"),
    ),
    ("GET", "/api/v1/hazmat/shipments/{shipment_id}/fixes"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/hazmat/shipments/{_hazmat(w, where, 'shipment')}/fixes"),
    ),
    ("GET", "/api/v1/hazmat/shipments/{shipment_id}/movements"): (
        True,
        lambda w, a, where: Call(
            "GET", f"/api/v1/hazmat/shipments/{_hazmat(w, where, 'shipment')}/movements"
        ),
    ),
    ("POST", "/api/v1/hazmat/shipments/{shipment_id}/load"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/hazmat/shipments/{_hazmat(w, where, 'shipment')}/load", json={"quantity": 1}
        ),
    ),
    ("POST", "/api/v1/hazmat/shipments/{shipment_id}/depart"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/hazmat/shipments/{_hazmat(w, where, 'shipment')}/depart"),
    ),
    ("POST", "/api/v1/hazmat/shipments/{shipment_id}/deliver"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/hazmat/shipments/{_hazmat(w, where, 'shipment')}/deliver", json={"quantity": 1}
        ),
    ),
    # --- visits
    ("GET", "/api/v1/visits"): (
        True,
        lambda w, a, where: Call("GET", "/api/v1/visits", params={"community_id": _site(where, "community")}),
    ),
    ("GET", "/api/v1/visits/precision"): (
        True,
        lambda w, a, where: Call(
            "GET", "/api/v1/visits/precision", params={"community_id": _site(where, "community")}
        ),
    ),
    ("POST", "/api/v1/visits/{visit_id}/outcome"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/visits/{_visit(w, where)}/outcome", json={"outcome": "confirmed"}
        ),
    ),
    ("POST", "/api/v1/flats/{flat_id}/visited"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/flats/{w.flat(where)}/visited", json={}),
    ),
    # --- shops
    ("POST", "/api/v1/shops"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/shops",
            json={
                "name": "New shop",
                "community_id": _site(where, "community"),
                "owner_id_number": w.id_number(),
                "owner_name": "O",
            },
        ),
    ),
    ("GET", "/api/v1/shops"): (False, lambda w, a, where: Call("GET", "/api/v1/shops")),
    ("GET", "/api/v1/my/shops"): (False, lambda w, a, where: Call("GET", "/api/v1/my/shops")),
    ("POST", "/api/v1/shops/{shop_id}/arm"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/shops/{w.shop(where)}/arm"),
    ),
    ("POST", "/api/v1/shops/{shop_id}/disarm"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/shops/{w.shop(where)}/disarm"),
    ),
    ("PUT", "/api/v1/shops/{shop_id}/schedule"): (
        True,
        lambda w, a, where: Call(
            "PUT",
            f"/api/v1/shops/{w.shop(where)}/schedule",
            json={"business_hours": {"mon": ["09:00", "21:00"]}, "auto_arm": True},
        ),
    ),
    ("GET", "/api/v1/shops/{shop_id}/staff"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/shops/{w.shop(where)}/staff"),
    ),
    ("POST", "/api/v1/shops/{shop_id}/staff"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/shops/{w.shop(where)}/staff",
            json={"card": {"id_number": w.id_number(), "name": "店员"}, "via": "typed"},
        ),
    ),
    ("POST", "/api/v1/shops/{shop_id}/staff/{staff_id}/remove"): (
        True,
        lambda w, a, where: Call("POST", "/api/v1/shops/{}/staff/{}/remove".format(*w.shop_staff(where))),
    ),
    # --- dispatch (command centre, handset)
    ("GET", "/api/v1/dispatch/network"): (False, lambda w, a, where: Call("GET", "/api/v1/dispatch/network")),
    ("GET", "/api/v1/dispatch/run-cards"): (
        False,
        lambda w, a, where: Call("GET", "/api/v1/dispatch/run-cards"),
    ),
    ("GET", "/api/v1/units"): (False, lambda w, a, where: Call("GET", "/api/v1/units")),
    ("POST", "/api/v1/units"): (
        True,
        lambda w, a, where: Call("POST", "/api/v1/units", json=_unit_body(w, where)),
    ),
    ("POST", "/api/v1/units/{unit_id}/status"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/units/U-{where.upper()}/status", json={"status": "off_duty"}
        ),
    ),
    ("GET", "/api/v1/handset/unit"): (False, lambda w, a, where: Call("GET", "/api/v1/handset/unit")),
    ("POST", "/api/v1/units/{unit_id}/sign-on"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/units/U-{where.upper()}/sign-on"),
    ),
    ("POST", "/api/v1/units/{unit_id}/sign-off"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/units/U-{where.upper()}/sign-off"),
    ),
    ("GET", "/api/v1/units/{unit_id}/orders"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/units/U-{where.upper()}/orders"),
    ),
    ("POST", "/api/v1/incidents"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/incidents",
            json={"kind": "theft", "lat": SITE[where]["lat"], "lon": SITE[where]["lon"]},
        ),
    ),
    ("GET", "/api/v1/incidents"): (False, lambda w, a, where: Call("GET", "/api/v1/incidents")),
    ("POST", "/api/v1/alerts/{alert_id}/incident"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/alerts/{w.alert(where)}/incident", json={}),
    ),
    ("GET", "/api/v1/incidents/{incident_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/incidents/{w.incident(where)}"),
    ),
    ("GET", "/api/v1/incidents/{incident_id}/timeline"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/incidents/{w.incident(where)}/timeline"),
    ),
    ("GET", "/api/v1/incidents/{incident_id}/orders"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/incidents/{w.incident(where)}/orders"),
    ),
    ("GET", "/api/v1/incidents/{incident_id}/candidates"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/incidents/{w.incident(where)}/candidates"),
    ),
    ("POST", "/api/v1/incidents/{incident_id}/dispatch"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/incidents/{w.incident(where)}/dispatch", json={}),
    ),
    ("POST", "/api/v1/incidents/{incident_id}/merge"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/incidents/{w.incident(where)}/merge", json={"into_id": w.incident(where)}
        ),
    ),
    ("POST", "/api/v1/incidents/{incident_id}/close"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/incidents/{w.incident(where)}/close", json={"outcome": "无警情"}
        ),
    ),
    ("POST", "/api/v1/orders/{order_id}"): (
        True,
        lambda w, a, where: Call("POST", f"/api/v1/orders/{w.order(where)}", json={"status": "accepted"}),
    ),
    ("GET", "/api/v1/orders/late"): (False, lambda w, a, where: Call("GET", "/api/v1/orders/late")),
    ("GET", "/api/v1/dispatch/kpis"): (False, lambda w, a, where: Call("GET", "/api/v1/dispatch/kpis")),
    ("GET", "/api/v1/dispatch/circles"): (False, lambda w, a, where: Call("GET", "/api/v1/dispatch/circles")),
    ("GET", "/api/v1/dispatch/reposition"): (
        False,
        lambda w, a, where: Call("GET", "/api/v1/dispatch/reposition?demand=population"),
    ),
    # --- wearers (elderly locators)
    ("POST", "/api/v1/wearers"): (
        True,
        lambda w, a, where: Call("POST", "/api/v1/wearers", json=_wearer_body(w, where)),
    ),
    ("GET", "/api/v1/wearers"): (False, lambda w, a, where: Call("GET", "/api/v1/wearers")),
    ("GET", "/api/v1/wearers/{wearer_id}"): _wearer_route("GET"),
    ("POST", "/api/v1/wearers/{wearer_id}/end"): _wearer_route("POST", "/end"),
    ("GET", "/api/v1/wearers/{wearer_id}/guardians"): _wearer_route("GET", "/guardians"),
    ("POST", "/api/v1/wearers/{wearer_id}/guardians"): _wearer_route("POST", "/guardians", _GUARDIAN_IN),
    ("POST", "/api/v1/wearers/{wearer_id}/guardians/{guardian_id}/remove"): (
        True,
        lambda w, a, where: Call(
            "POST", "/api/v1/wearers/{}/guardians/{}/remove".format(*_wearer_part(w, where, "guardian"))
        ),
    ),
    ("GET", "/api/v1/wearers/{wearer_id}/consents"): _wearer_route("GET", "/consents"),
    ("POST", "/api/v1/wearers/{wearer_id}/consents"): _wearer_route("POST", "/consents", _CONSENT_IN),
    ("POST", "/api/v1/wearers/{wearer_id}/consents/{consent_id}/withdraw"): (
        True,
        lambda w, a, where: Call(
            "POST", "/api/v1/wearers/{}/consents/{}/withdraw".format(*_wearer_part(w, where, "consent"))
        ),
    ),
    ("GET", "/api/v1/wearers/{wearer_id}/safe-zones"): _wearer_route("GET", "/safe-zones"),
    ("PUT", "/api/v1/wearers/{wearer_id}/safe-zones"): _wearer_route("PUT", "/safe-zones", _ZONES_IN),
    ("GET", "/api/v1/my/wearers"): (False, lambda w, a, where: Call("GET", "/api/v1/my/wearers")),
    # --- missing-person reports: IN, the test citizen guards the wearer (like /my/wearers)
    ("POST", "/api/v1/wearers/{wearer_id}/missing"): _wearer_route(
        "POST", "/missing", {"circumstances": "x"}
    ),
    ("GET", "/api/v1/wearers/{wearer_id}/fixes"): _wearer_route("GET", "/fixes"),
    ("GET", "/api/v1/missing"): (False, lambda w, a, where: Call("GET", "/api/v1/missing")),
    ("GET", "/api/v1/missing/stats"): (False, lambda w, a, where: Call("GET", "/api/v1/missing/stats")),
    ("GET", "/api/v1/missing/{report_id}"): _missing_route("GET"),
    ("POST", "/api/v1/missing/{report_id}/found"): _missing_route(
        "POST", "/found", {"lat": 28.0, "lon": 120.7}
    ),
    ("POST", "/api/v1/missing/{report_id}/withdraw"): _missing_route("POST", "/withdraw", {"note": "home"}),
    # IN: a wearer the test citizen guards; OUT: one they do not (refused like an area outside reach).
    ("GET", "/api/v1/my/wearers/{wearer_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/my/wearers/{_wearer(w, where)}"),
    ),
    ("GET", "/api/v1/health/devices"): (
        True,
        lambda w, a, where: Call(
            "GET", "/api/v1/health/devices", params={"level": "station", "area_id": _site(where, "community")}
        ),
    ),
    ("GET", "/api/v1/areas"): (False, lambda w, a, where: Call("GET", "/api/v1/areas")),
    ("GET", "/api/v1/city.geojson"): (False, lambda w, a, where: Call("GET", "/api/v1/city.geojson")),
    ("GET", "/api/v1/reconciliation"): (False, lambda w, a, where: Call("GET", "/api/v1/reconciliation")),
    # --- sign-in and self
    ("POST", "/api/v1/auth/logout"): (
        False,
        lambda w, a, where: Call("POST", "/api/v1/auth/logout", headers=w.token(a)),
    ),
    ("GET", "/api/v1/auth/me"): (False, lambda w, a, where: Call("GET", "/api/v1/auth/me")),
    ("GET", "/api/v1/me/access-log"): (False, lambda w, a, where: Call("GET", "/api/v1/me/access-log")),
    ("GET", "/api/v1/me/bikes"): (False, lambda w, a, where: Call("GET", "/api/v1/me/bikes")),
    # --- accounts
    ("POST", "/api/v1/users"): (
        False,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/users",
            json={
                "username": f"new-{next(w.serial)}",
                "display_name": "New",
                "role": "patrol_officer",
                "unit": "Patrol",
                "password": "a long enough password",
                "areas": ["S1"],
            },
        ),
    ),
    ("GET", "/api/v1/users"): (False, lambda w, a, where: Call("GET", "/api/v1/users")),
    **{
        ("POST", f"/api/v1/users/{{username}}/{verb}"): (
            False,
            lambda w, a, where, verb=verb: Call(
                "POST",
                f"/api/v1/users/{w.user()}/{verb}",
                json={"password": "another long password"} if verb == "password" else None,
            ),
        )
        for verb in ("unlock", "enable", "totp", "password", "disable")
    },
    # --- cases
    ("POST", "/api/v1/cases"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/cases",
            json={
                "title": "bike theft ring",
                "basis": "order 12",
                "area_id": _site(where, "station"),
                "window_start": (NOW - timedelta(days=3)).isoformat(),
                "window_end": NOW.isoformat(),
            },
        ),
    ),
    ("GET", "/api/v1/cases"): (False, lambda w, a, where: Call("GET", "/api/v1/cases")),
    ("GET", "/api/v1/cases/{case_id}"): (
        True,
        lambda w, a, where: Call(
            "GET",
            f"/api/v1/cases/{(w.accounts[Role.INVESTIGATOR].case_id or '') if where == IN else w.other_case}",
        ),
    ),
    ("POST", "/api/v1/cases/{case_id}/members"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/cases/{(a.case_id or w.other_case) if where == IN else w.other_case}/members",
            json={"username": "t-patrol-officer"},
        ),
    ),
    ("POST", "/api/v1/cases/{case_id}/holds"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/cases/{(a.case_id or w.other_case) if where == IN else w.other_case}/holds",
            json={
                "kinds": ["rfid_read"],
                "from_date": str((NOW - timedelta(days=1)).date()),
                "to_date": str(NOW.date()),
            },
        ),
    ),
    ("POST", "/api/v1/cases/{case_id}/close"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/cases/{_closable(w, a, where)}/close",
            json={"note": "done"},
        ),
    ),
    # --- audit
    ("GET", "/api/v1/audit"): (False, lambda w, a, where: Call("GET", "/api/v1/audit", params={"limit": 5})),
    ("GET", "/api/v1/audit/verify"): (False, lambda w, a, where: Call("GET", "/api/v1/audit/verify")),
    # --- person-level queries, under the account's own case (area: the case's, S1)
    ("GET", "/api/v1/people/{person_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/people/{w.people[where]}", params=_case(w, a, where)),
    ),
    ("GET", "/api/v1/people"): (
        True,
        lambda w, a, where: Call(
            "GET",
            "/api/v1/people",
            params={
                "id_number": "11010519491231002X" if where == IN else "330302198001011230",
                **_case(w, a, where),
            },
        ),
    ),
    ("GET", "/api/v1/subjects/{kind}/{value}/path"): (
        True,
        lambda w, a, where: Call(
            "GET",
            "/api/v1/subjects/tag/B0000001/path",
            params={**WINDOW, **_case(w, a, where), **({"area_id": "C2"} if where == OUT else {})},
        ),
    ),
    ("GET", "/api/v1/subjects/{kind}/{value}/path.geojson"): (
        True,
        lambda w, a, where: Call(
            "GET",
            "/api/v1/subjects/tag/B0000001/path.geojson",
            params={**WINDOW, **_case(w, a, where), **({"area_id": "C2"} if where == OUT else {})},
        ),
    ),
    ("GET", "/api/v1/subjects/{kind}/{value}/path.csv"): (
        True,
        lambda w, a, where: Call(
            "GET",
            "/api/v1/subjects/tag/B0000001/path.csv",
            params={**WINDOW, **_case(w, a, where), **({"area_id": "C2"} if where == OUT else {})},
        ),
    ),
    # --- the investigation workbench
    ("POST", "/api/v1/workbench/collision"): (
        True,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/workbench/collision",
            json={"windows": [{**WINDOW, "devices": [SITE[where]["device"]]}], "k": 1, **_case(w, a, where)},
        ),
    ),
    ("POST", "/api/v1/workbench/companions"): (
        False,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/workbench/companions",
            json={"subject_kind": "tag", "subject": "B0000001", **WINDOW, **_case(w, a, where)},
        ),
    ),
    ("POST", "/api/v1/workbench/cloned-plates"): (
        False,
        lambda w, a, where: Call(
            "POST", "/api/v1/workbench/cloned-plates", json={**WINDOW, **_case(w, a, where)}
        ),
    ),
    ("POST", "/api/v1/workbench/forged-plates"): (
        False,
        lambda w, a, where: Call(
            "POST", "/api/v1/workbench/forged-plates", json={**WINDOW, **_case(w, a, where)}
        ),
    ),
    ("POST", "/api/v1/workbench/search"): (
        False,
        lambda w, a, where: Call(
            "POST", "/api/v1/workbench/search", json={"q": "浙C?12*5", **_case(w, a, where)}
        ),
    ),
    ("POST", "/api/v1/workbench/links"): (
        False,
        lambda w, a, where: Call(
            "POST", "/api/v1/workbench/links", json={"node": "phone:13900000000", **_case(w, a, where)}
        ),
    ),
    ("POST", "/api/v1/workbench/connection"): (
        False,
        lambda w, a, where: Call(
            "POST",
            "/api/v1/workbench/connection",
            json={"a": "phone:13900000000", "b": "phone:13900000001", **_case(w, a, where)},
        ),
    ),
    ("GET", "/api/v1/cases/{case_id}/workspace"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/cases/{_worked(w, a, where)}/workspace"),
    ),
    ("GET", "/api/v1/cases/{case_id}/queries/{query_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/cases/{_worked(w, a, where)}/queries/1"),
    ),
    ("POST", "/api/v1/cases/{case_id}/pins"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/cases/{_worked(w, a, where)}/pins",
            json={"kind": "subject", "ref": f"tag:B{next(w.serial):07d}"},
        ),
    ),
    ("DELETE", "/api/v1/cases/{case_id}/pins/{pin_id}"): (
        True,
        lambda w, a, where: Call("DELETE", f"/api/v1/cases/{_worked(w, a, where)}/pins/999999"),
    ),
    ("POST", "/api/v1/cases/{case_id}/notes"): (
        True,
        lambda w, a, where: Call(
            "POST", f"/api/v1/cases/{_worked(w, a, where)}/notes", json={"text": "seen"}
        ),
    ),
    ("GET", "/api/v1/cases/{case_id}/file"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/cases/{_worked(w, a, where)}/file"),
    ),
    ("GET", "/api/v1/cases/{case_id}/file.pdf"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/cases/{_worked(w, a, where)}/file.pdf"),
    ),
    # --- console pages
    ("GET", "/"): (False, lambda w, a, where: Call("GET", "/")),
    ("GET", "/bikes"): (False, lambda w, a, where: Call("GET", "/bikes")),
    ("GET", "/me"): (False, lambda w, a, where: Call("GET", "/me")),
    ("GET", "/watch"): (False, lambda w, a, where: Call("GET", "/watch")),
    ("GET", "/landlord"): (False, lambda w, a, where: Call("GET", "/landlord")),
    ("GET", "/visits"): (False, lambda w, a, where: Call("GET", "/visits")),
    ("GET", "/shop"): (False, lambda w, a, where: Call("GET", "/shop")),
    ("GET", "/watchlist"): (False, lambda w, a, where: Call("GET", "/watchlist")),
    ("GET", "/health"): (False, lambda w, a, where: Call("GET", "/health")),
    ("GET", "/wearers"): (False, lambda w, a, where: Call("GET", "/wearers")),
    ("GET", "/dispatch"): (False, lambda w, a, where: Call("GET", "/dispatch")),
    ("GET", "/workbench"): (False, lambda w, a, where: Call("GET", "/workbench")),
    ("GET", "/catalogue"): (False, lambda w, a, where: Call("GET", "/catalogue")),
    ("GET", "/search"): (False, lambda w, a, where: Call("GET", "/search")),
    ("GET", "/checkpoints"): (False, lambda w, a, where: Call("GET", "/checkpoints")),
    ("GET", "/review"): (False, lambda w, a, where: Call("GET", "/review")),
    ("GET", "/lost"): (False, lambda w, a, where: Call("GET", "/lost")),
    ("POST", "/api/v1/faces/enrolments"): (
        False,  # no photos: 422 for whoever may enrol
        lambda w, a, where: Call(
            "POST", "/api/v1/faces/enrolments", data={"list_kind": "fugitive", "label": "x", "basis": "y"}
        ),
    ),
    ("GET", "/api/v1/faces/reviews"): (False, lambda w, a, where: Call("GET", "/api/v1/faces/reviews")),
    ("GET", "/api/v1/faces/reviews/{review_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/faces/reviews/{_review(w, where)}"),
    ),
    ("GET", "/api/v1/faces/reviews/{review_id}/image"): (
        True,  # no image: 404 inside the area, 403 outside
        lambda w, a, where: Call("GET", f"/api/v1/faces/reviews/{_review(w, where)}/image"),
    ),
    ("GET", "/api/v1/faces/reviews/{review_id}/photos/{n}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/faces/reviews/{_review(w, where)}/photos/0"),
    ),
    ("POST", "/api/v1/faces/reviews/{review_id}/decision"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/faces/reviews/{_review(w, where)}/decision",
            json={"decision": "rejected", "reason": "another person"},
        ),
    ),
    ("GET", "/api/v1/faces/precision"): (False, lambda w, a, where: Call("GET", "/api/v1/faces/precision")),
    ("POST", "/api/v1/faces/lost"): (
        False,  # no photo: 422 for whoever may search
        lambda w, a, where: Call("POST", "/api/v1/faces/lost", data=_case(w, a, where)),
    ),
    ("GET", "/api/v1/faces/sightings/{sighting_id}/image"): (
        True,  # under the account's own case: its area's sighting (image gone: 404), not the other's
        lambda w, a, where: Call(
            "GET", f"/api/v1/faces/sightings/{_sighting(w, where)}/image", params=_case(w, a, where)
        ),
    ),
    ("GET", "/api/v1/checkpoints/hits"): (False, lambda w, a, where: Call("GET", "/api/v1/checkpoints/hits")),
    ("GET", "/api/v1/checkpoints/hits/{hit_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/api/v1/checkpoints/hits/{_hit(w, where)}"),
    ),
    ("GET", "/api/v1/checkpoints/hits/{hit_id}/image"): (
        True,  # this hit has no image: 404 inside the area, 403 outside it
        lambda w, a, where: Call("GET", f"/api/v1/checkpoints/hits/{_hit(w, where)}/image"),
    ),
    ("POST", "/api/v1/checkpoints/hits/{hit_id}/outcome"): (
        True,
        lambda w, a, where: Call(
            "POST",
            f"/api/v1/checkpoints/hits/{_hit(w, where)}/outcome",
            json={"status": "stopped", "outcome": "driver detained"},
        ),
    ),
    ("GET", "/api/v1/catalogue"): (False, lambda w, a, where: Call("GET", "/api/v1/catalogue")),
    ("GET", "/handset"): (False, lambda w, a, where: Call("GET", "/handset")),
    ("GET", "/wearers/{wearer_id}"): (True, lambda w, a, where: Call("GET", f"/wearers/{_wearer(w, where)}")),
    ("GET", "/shipments"): (False, lambda w, a, where: Call("GET", "/shipments")),
    ("GET", "/shipments/{shipment_id}"): (
        True,
        lambda w, a, where: Call("GET", f"/shipments/{_hazmat(w, where, 'shipment')}"),
    ),
    ("GET", "/family"): (False, lambda w, a, where: Call("GET", "/family")),
    # IN: a wearer the test citizen guards; OUT: one they do not (refused like an area outside reach).
    ("GET", "/family/{wearer_id}"): (True, lambda w, a, where: Call("GET", f"/family/{_wearer(w, where)}")),
    ("POST", "/logout"): (
        False,
        lambda w, a, where: Call(
            "POST", "/logout", data={"csrf": "t0k3n"}, headers={**w.token(a), "Cookie": "sc_csrf=t0k3n"}
        ),
    ),
}


def _app_routes(world: World) -> list[RouteInfo]:
    routes: list[RouteInfo] = []
    for route in app_routes(create_app(world.platform, manage_platform=False)):
        if route.api:
            routes.append(route)
        else:
            assert route.path in {*FRAMEWORK_ROUTES, "/static"}, f"unexpected route {route.path}"
    return routes


def test_every_route_declares_its_access(world: World) -> None:
    """No route may be reachable without saying who may reach it."""
    routes = _app_routes(world)
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in routes if r.requirement is None]
    assert len(routes) > 40
    assert undeclared == []


def test_every_route_is_in_the_matrix(world: World) -> None:
    """Each route needing a sign-in has a sample request below; public and device routes are named."""
    signed: set[tuple[str, str]] = set()
    others: dict[tuple[str, str], str] = {}
    for route in _app_routes(world):
        requirement = route.requirement
        assert requirement is not None
        for method in route.methods:
            if requirement.permission is None:
                others[(method, route.path)] = repr(requirement)
            else:
                signed.add((method, route.path))
    assert signed == set(MATRIX), f"missing: {signed - set(MATRIX)}; stale: {set(MATRIX) - signed}"
    assert others == {
        ("POST", "/api/v1/ingest"): "device_auth()",
        ("POST", "/api/v1/recognition/images"): "device_auth()",
        ("GET", "/api/v1/gateway/messages"): "device_auth()",
        ("POST", "/api/v1/gateway/messages/{message_id}"): "device_auth()",
        ("GET", "/api/v1/doors/{device_id}/whitelist"): "device_auth()",
        ("POST", "/api/v1/doors/{device_id}/check"): "device_auth()",
        (
            "POST",
            "/api/v1/auth/login",
        ): "public('signing in is how one gets a token; rate limited per address')",
        (
            "POST",
            "/api/v1/auth/refresh",
        ): "public('a refresh token is its own credential; rate limited per address')",
        ("GET", "/healthz"): "public('load balancers and orchestrators probe it')",
        ("GET", "/metrics"): "public('Prometheus scrapes it; counters only, no personal data')",
        ("GET", "/login"): "public('the sign-in form itself')",
        ("POST", "/login"): "public('the sign-in form posts here; rate limited per address')",
        (
            "POST",
            "/api/v1/auth/enrol",
        ): "public('the enrolment token is its own credential; rate limited per address')",
        (
            "GET",
            "/login/enrol",
        ): "public('shows a new key to whoever holds its enrolment cookie, after their password')",
        ("POST", "/login/enrol"): "public('the enrolment form posts here; rate limited per address')",
    }


def _permission_of(world: World, method: str, path: str) -> Permission:
    for route in _app_routes(world):
        if route.path == path and method in route.methods:
            requirement = route.requirement
            assert requirement is not None and requirement.permission is not None
            return requirement.permission
    raise AssertionError(f"no route {method} {path}")


def _send(client: httpx.Client, account: RoleAccount, call: Call) -> httpx.Response:
    headers = {**account.headers, **(call.headers or {})}
    request = client.build_request(
        call.method, call.path, params=call.params, json=call.json, data=call.data, headers=headers
    )
    answer = client.send(request, stream=call.stream)
    if call.stream:
        if answer.status_code != 200:
            answer.read()
        answer.close()  # the headers tell allow from deny; the stream itself never ends
    return answer


def expected_allowed(role: Role, permission: Permission, area_bound: bool, where: str) -> bool:
    """The rule under test, from the permission table and the account's reach."""
    from safecity.security.roles import ROLE_PERMISSIONS

    if permission not in ROLE_PERMISSIONS[role]:
        return False
    return not (area_bound and where == OUT and role not in CITY_WIDE)


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_route_allows_exactly_the_roles_and_areas_the_table_says(
    world: World, method: str, path: str
) -> None:
    area_bound, build = MATRIX[(method, path)]
    permission = _permission_of(world, method, path)
    wrong: list[str] = []
    with world.client() as client:
        anonymous = client.request(method, path.replace("{", "x").replace("}", ""))
        if anonymous.status_code not in (401, 303):
            wrong.append(f"anonymous: {anonymous.status_code} (want 401, or 303 to sign in)")
        for role in Role:
            account = world.accounts[role]
            for where in (IN, OUT):
                answer = _send(client, account, build(world, account, where))
                allowed = expected_allowed(role, permission, area_bound, where)
                denied = answer.status_code in (401, 403)
                if allowed and (denied or answer.status_code >= 500):
                    wrong.append(
                        f"{role.value}/{where}: {answer.status_code} {answer.text[:160]} (want allowed)"
                    )
                elif not allowed and answer.status_code != 403:
                    wrong.append(f"{role.value}/{where}: {answer.status_code} {answer.text[:160]} (want 403)")
                elif not allowed and error_code(answer) not in (
                    "forbidden",
                    "outside_area",
                    "outside_case_area",
                    "not_assigned",
                ):
                    wrong.append(f"{role.value}/{where}: 403 with code {error_code(answer)}")
    assert wrong == [], f"{method} {path} needs {permission.value}:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "body",
    [
        {"id_number": "11010519491231002Y", "basis": "warrant 9"},  # check character wrong
        {"id_number": "11010519491231002X", "basis": ""},
        {"id_number": "11010519491231002X", "basis": "warrant 9", "valid_days": 0},
        {"id_number": "11010519491231002X", "basis": "warrant 9", "person_id": 1},
    ],
)
def test_listing_a_person_with_a_bad_body_is_422_only_for_roles_that_may_list(
    world: World, body: dict[str, Any]
) -> None:
    """A refused role learns nothing from its body: 403 comes before any word on the input."""
    wrong: list[str] = []
    with world.client() as client:
        for role in Role:
            answer = _send(client, world.accounts[role], Call("POST", "/api/v1/watchlist/persons", json=body))
            want = 422 if expected_allowed(role, Permission.WATCHLIST_WRITE, False, IN) else 403
            if answer.status_code != want:
                wrong.append(f"{role.value}: {answer.status_code} {answer.text[:160]} (want {want})")
    assert wrong == []
