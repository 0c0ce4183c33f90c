"""The demo's wearers and tankers are registered through the use cases, once, and its `guardian` account
is the citizen linked to the guardian of the demo's first wearer: that wearer, and only that one."""

from __future__ import annotations

from pathlib import Path

from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.driver import ensure_loaded, seed_demo_accounts
from safecity.driver.trackdemo import DEMO_TRACKER, TANKERS, WANDERERS, prepare_tracking
from safecity.driver.tracking import guardian_person_of
from safecity.platform import Platform
from safecity.security import accounts
from safecity.settings import Settings
from safecity.tracking.hazmat_registry import HazmatRegistry
from safecity.tracking.wearers import Wearers
from tests.sim.conftest import MORNING


def test_the_demo_registers_wearers_and_tankers_once_and_a_guardian_account(tmp_path: Path) -> None:
    platform = Platform.build(Settings(data_dir=tmp_path), clock=ManualClock(MORNING))
    city = ensure_loaded(platform, seed=7, scale="tiny")

    tracking = prepare_tracking(platform, city, seed=7)
    again = prepare_tracking(platform, city, seed=7)  # a restarted demo reuses what it registered

    assert len(tracking.wearers) == WANDERERS and again.wearers == tracking.wearers
    assert len(tracking.sites) == TANKERS and again.sites == tracking.sites
    admin = Context(actor="admin", role="administrator", city_wide=True)
    zones = platform.service(HazmatRegistry).zones(admin)
    assert {z.kind for z in zones} == {"permitted_stop", "restricted"}
    assert len({z.name for z in zones}) == len(zones)

    created = {a.username: a for a in seed_demo_accounts(platform)}
    assert created["guardian"].role == "citizen" and created["guardian"].reach == "own wearer"
    with platform.session_factory() as session:
        account = accounts.find_account(session, "guardian")
    assert account.person_id == guardian_person_of(platform, DEMO_TRACKER) is not None
    guardian = Context(
        actor="guardian",
        role="citizen",
        permissions=frozenset({"wearers.guard"}),
        person_id=account.person_id,
    )
    [mine] = platform.service(Wearers).wearers(guardian, resource="/api/v1/my/wearers")
    assert mine.device_ids == [DEMO_TRACKER]
    platform.engine.dispose()
