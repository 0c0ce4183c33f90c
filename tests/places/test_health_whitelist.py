"""A door whose whitelist is out of step drags the device-health figures (places/health.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl

from safecity.core.record import RECORD_SCHEMA
from safecity.places.health_schemas import Level
from safecity.places.models import DoorWhitelist
from safecity.platform import Platform
from safecity.store import transaction
from tests.conftest import T0
from tests.places.test_health import figures, plant, rec


def lists(platform: Platform, versions: dict[str, tuple[int, timedelta]]) -> None:
    """The server's list of each door: its version, made that long before T0."""
    with transaction(platform.session_factory) as session:
        for device, (version, ago) in versions.items():
            session.add(
                DoorWhitelist(
                    device_id=device,
                    salt=b"s" * 16,
                    version=version,
                    digest="0" * 64,
                    entries=[],
                    changed_at=T0 - ago,
                )
            )


def swipe(device: str, minutes_ago: float, version: int) -> dict[str, object]:
    row = rec(device, "door_swipe", T0 - timedelta(minutes=minutes_ago), "granted")
    return {**row, "attrs": json.dumps({"reason": "listed", "wl_version": version})}


def test_a_door_reporting_an_old_version_long_after_the_new_one_drags_as_out_of_step(
    platform: Platform,
) -> None:
    plant(platform)
    hour = timedelta(hours=1)
    # DC-1 behind for hours; DC-4 behind, but its new list is minutes old; DC-2 reports no version.
    lists(platform, {"DC-1": (3, 3 * hour), "DC-4": (5, timedelta(minutes=3)), "DC-2": (2, hour)})
    rows = [swipe("DC-1", 20, 3), swipe("DC-1", 5, 2), swipe("DC-4", 2, 4)]
    platform.lake.append(pl.DataFrame(rows, schema=RECORD_SCHEMA))

    out = figures(platform, Level.COMMUNITY)

    assert [(d.device, d.key) for d in out.dragging if d.reason == "out_of_step"] == [("DC-1", "C1")]
    assert "DC-1" not in {d.device for d in out.dragging if d.reason != "out_of_step"}


def test_a_door_whose_newest_report_is_in_step_does_not_drag(platform: Platform) -> None:
    plant(platform)
    lists(platform, {"DC-1": (3, 3 * timedelta(hours=1))})
    platform.lake.append(pl.DataFrame([swipe("DC-1", 20, 2), swipe("DC-1", 5, 3)], schema=RECORD_SCHEMA))

    assert [d for d in figures(platform, Level.COMMUNITY).dragging if d.reason == "out_of_step"] == []
