"""Which of a landlord's tenants have not swiped for a while: swipes ingested from a door controller
(ID numbers pseudonymised on the way in) are matched to the landlord's tenants in the lake; only the
doors of the tenant's own compound count; new tenants are not quiet yet; the read is audited."""

from __future__ import annotations

import base64
import itertools
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from safecity.places.models import Door
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.store import transaction
from tests.conftest import T0
from tests.places.conftest import Housing
from tests.places.test_housing import card
from tests.web.conftest import ndjson, register_device

# Four men of the flat 1-101 (the check digit of each verified): A, B, C move in a month ago, D lately.
A, B, C, D = "330302199003071231", "330302198501010058", "330302199202020074", "33030219880808123X"
_serial = itertools.count(1)


def _door(api: TestClient, platform: Platform, device: str, compound: str) -> dict[str, str]:
    """A door controller at a compound's gate; Basic credentials to send as it."""
    secret = register_device(api, device, kind="door_controller", name=f"Gate {compound}")
    with transaction(platform.session_factory) as session:
        session.add(Door(device_id=device, compound_id=compound, name=f"Gate {compound}"))
    token = base64.b64encode(f"{device}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _swipe(api: TestClient, door: dict[str, str], number: str, at: datetime) -> None:
    event: dict[str, Any] = {
        "id": f"sw-{next(_serial)}",
        "kind": "door_swipe",
        "ts": at.isoformat(),
        "subject": number,
        "code": "granted",
        "attrs": {"reason": "listed", "wl_version": 3, "buffered": False},
    }
    answer = api.post("/api/v1/ingest", content=ndjson([event]), headers=door)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1, answer.text


def _tenant(
    api: TestClient,
    housing: Housing,
    number: str,
    moved_in: datetime,
    *,
    other: bool = False,
    name: str = "陈平",
) -> int:
    body = {"card": card(number, name=name), "starts_at": moved_in.isoformat()}
    flat, headers = (
        (housing.other_flat_id, housing.other_landlord) if other else (housing.flat_id, housing.landlord)
    )
    answer = api.post(f"/api/v1/flats/{flat}/tenants", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["tenant"]["tenancy_id"])


def _quiet(api: TestClient, headers: dict[str, str], days: int = 3) -> dict[int, dict[str, Any]]:
    answer = api.get("/api/v1/my/quiet-tenants", params={"days": days}, headers=headers)
    assert answer.status_code == 200, answer.text
    return {q["tenancy_id"]: q for q in answer.json()}


def test_a_landlord_sees_which_tenants_have_not_swiped_at_their_doors(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    own_gate = _door(api, platform, "DOOR-CP1", "CP1")
    other_gate = _door(api, platform, "DOOR-CP2", "CP2")
    month_ago, lately = T0 - timedelta(days=30), T0 - timedelta(days=2)
    # C lives in the other compound too, registered there first under another name.
    _tenant(api, housing, C, month_ago, other=True, name="王五")
    a, b, c = (_tenant(api, housing, n, month_ago) for n in (A, B, C))
    d = _tenant(api, housing, D, lately)
    _swipe(api, own_gate, A, T0 - timedelta(days=1))
    _swipe(api, own_gate, B, T0 - timedelta(days=6))
    _swipe(api, other_gate, C, T0 - timedelta(hours=5))  # seen, but not at home

    quiet = _quiet(api, housing.landlord)
    assert set(quiet) == {b, c}
    assert quiet[b]["quiet_days"] == 6
    assert quiet[b]["last_swipe_at"].startswith((T0 - timedelta(days=6)).date().isoformat())
    assert (quiet[c]["last_swipe_at"], quiet[c]["quiet_days"]) == (None, 30)
    assert quiet[c]["id_number"] == C[:6] + "********" + C[-4:]
    assert quiet[c]["name"] == "陈平"  # as this landlord registered them, not the registry's name
    assert list(quiet) == [c, b]  # the longest quiet first

    # Over a shorter time, A (a day) and D (moved in two days ago, never swiped) are quiet too.
    shorter = _quiet(api, housing.landlord, days=1)
    assert set(shorter) == {a, b, c, d}
    assert (shorter[a]["quiet_days"], shorter[d]["quiet_days"], shorter[d]["last_swipe_at"]) == (1, 2, None)

    assert _quiet(api, housing.other_landlord) == {}  # another landlord's tenants are not theirs to see
    assert set(_quiet(api, housing.officer)) == {b, c}  # the community officer of C1 sees them too
    with platform.session_factory() as session:
        reads = audit.search(session, AuditFilter(action="tenants.quiet", limit=10))
    assert len(reads) == 4
    assert all(A not in r.detail and A not in r.resource for r in reads)


def test_tenants_of_a_compound_without_doors_are_not_judged_and_bad_days_are_refused(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    _tenant(api, housing, A, T0 - timedelta(days=30))
    assert _quiet(api, housing.landlord) == {}
    for days in (0, 61, "x"):
        answer = api.get("/api/v1/my/quiet-tenants", params={"days": days}, headers=housing.landlord)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"].split(".")[-1] == "days"
