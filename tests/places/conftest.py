"""Fixtures of the places tests: the web tests' platform and client, and a small city with a compound.

District D1 holds station S1 and communities C1 (in reach of the test officer) and C2 (not).
Compound CP1 lies in C1 with building B1 and flat 1-101 (capacity 2), let by landlord Li Ming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.store import transaction
from tests.authn import mint
from tests.web.conftest import api, platform, schema_db  # noqa: F401  (the same fixtures)

LANDLORD_ID = "330302197001011236"
OTHER_LANDLORD_ID = "330302197202021238"


@dataclass
class Housing:
    """Who acts in the small city, and what is registered."""

    officer: dict[str, str]
    landlord: dict[str, str]
    other_landlord: dict[str, str]
    flat_id: int
    other_flat_id: int


def _areas(on: Platform) -> None:
    with transaction(on.session_factory) as session:
        session.add(Area(id="D1", kind="district", name="Lucheng"))
        session.flush()
        session.add(Area(id="S1", kind="station", name="Wuma Station", parent_id="D1", station_id="S1"))
        session.flush()
        for community in ("C1", "C2"):
            session.add(Area(id=community, kind="community", name=community, parent_id="S1", station_id="S1"))


def _ok(answer: Any, status: int = 201) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


@pytest.fixture
def housing(api: TestClient, platform: Platform) -> Housing:  # noqa: F811 (fixtures re-exported above)
    """Compound CP1 in C1 and CP2 in C2, a flat in each, two landlords with their app accounts."""
    _areas(platform)
    officer = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C1", "C2"))
    landlord = mint(platform.security, Role.LANDLORD, username="li.ming")
    other = mint(platform.security, Role.LANDLORD, username="wang.fang")
    flats = []
    for n, (community, owner, account) in enumerate(
        (("C1", LANDLORD_ID, "li.ming"), ("C2", OTHER_LANDLORD_ID, "wang.fang")), 1
    ):
        _ok(
            api.post(
                "/api/v1/compounds",
                json={"id": f"CP{n}", "name": f"Compound {n}", "community_id": community},
                headers=officer,
            )
        )
        _ok(
            api.post(
                "/api/v1/buildings",
                json={"id": f"B{n}", "compound_id": f"CP{n}", "name": f"{n}号楼"},
                headers=officer,
            )
        )
        landlord_row = _ok(
            api.post(
                "/api/v1/landlords",
                json={
                    "id_number": owner,
                    "name": f"Landlord {n}",
                    "account": account,
                    "kind": "sub_landlord",
                },
                headers=officer,
            )
        )
        flat = _ok(
            api.post(
                "/api/v1/flats",
                json={
                    "building_id": f"B{n}",
                    "number": f"{n}-101",
                    "capacity": 2,
                    "landlord_id": landlord_row["id"],
                },
                headers=officer,
            )
        )
        flats.append(flat["id"])
    return Housing(officer, landlord, other, flats[0], flats[1])
