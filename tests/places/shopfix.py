"""Shared setup of the shop tests: a shop in C1 owned by a shop-owner account, with a door controller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from safecity import registry
from safecity.core.ids import id_number_check_char
from safecity.places.events import places_changed
from safecity.places.models import AlarmZone, Door
from safecity.platform import Platform
from safecity.security.roles import Role
from safecity.store import transaction
from tests.authn import mint
from tests.conftest import T0
from tests.places.conftest import _areas, _ok

OWNER_PHONE = "13800138000"
DOOR_ID, PANEL_ID = "DC-SHOP-1", "AP-SHOP-1"
EVERY_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ["09:00", "21:00"])


def id_number(serial: int) -> str:
    """A valid identity number (born 1985-05-05)."""
    first17 = f"330302198505051{serial % 100:02d}"
    return first17 + id_number_check_char(first17)


@dataclass
class ShopWorld:
    """Who acts on the shop, and what is registered."""

    officer: dict[str, str]  # a community officer of C1 only
    far_officer: dict[str, str]  # a community officer of C2 only
    owner: dict[str, str]
    other_owner: dict[str, str]
    shop_id: int


def shop_body(**over: Any) -> dict[str, Any]:
    """A shop in C1 owned by the account zhao.shop."""
    return {
        "name": "五马街金店",
        "community_id": "C1",
        "owner_id_number": id_number(1),
        "owner_name": "赵店主",
        "owner_phone": OWNER_PHONE,
        "owner_account": "zhao.shop",
        "lat": 28.0,
        "lon": 120.65,
        **over,
    }


def add_door(platform: Platform, shop_id: int, *, device: str = DOOR_ID) -> dict[str, str]:
    """A door controller at the shop's door, and an alarm panel with zone "1" inside it; their secrets."""
    secrets = {}
    with transaction(platform.session_factory) as session:
        for device_id, kind in ((device, "door_controller"), (PANEL_ID, "alarm_panel")):
            _, secrets[device_id] = registry.create_device(
                session,
                device_id=device_id,
                kind=kind,
                name=device_id,
                lat=28.0,
                lon=120.65,
                area_id="C1",
                now=T0,
            )
        session.flush()
        session.add(Door(device_id=device, shop_id=shop_id, name="front door"))
        session.add(AlarmZone(device_id=PANEL_ID, zone="1", name="back room", shop_id=shop_id))
        places_changed(session)
    return secrets


def shop_world(api: TestClient, platform: Platform, **shop: Any) -> ShopWorld:
    """Areas, officers, two shop owners, and one registered shop of the first owner."""
    _areas(platform)
    officer = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C1",))
    far = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C2",))
    owner = mint(platform.security, Role.SHOP_OWNER, username="zhao.shop", areas=("C1",))
    other = mint(platform.security, Role.SHOP_OWNER, username="qian.shop", areas=("C1",))
    created = _ok(api.post("/api/v1/shops", json=shop_body(**shop), headers=officer))
    return ShopWorld(officer, far, owner, other, created["id"])
