"""JT/T 808 location bodies: alarm bits onto the platform's names, area items, malformed bodies."""

from __future__ import annotations

import pytest

from safecity.ingest.adapters.tcp.jt808_frame import BodyError
from safecity.ingest.adapters.tcp.jt808_location import alarm_names, decode_batch, decode_location
from safecity.ingest.adapters.tcp.protocol import ALARMS

# A fix on 2024-03-01 12:00:00 GMT+8, positioned, at 30.0 N 120.0 E, with the given alarm flags.
POSITIONED = (1 << 1).to_bytes(4, "big")
WHERE = (30_000_000).to_bytes(4, "big") + (120_000_000).to_bytes(4, "big") + bytes(6)
WHEN = bytes.fromhex("240301120000")


def basic(alarm: int) -> bytes:
    """The 28 bytes of basic location information with these alarm flags."""
    return alarm.to_bytes(4, "big") + POSITIONED + WHERE + WHEN


@pytest.mark.parametrize(
    ("bit", "name"),
    [
        (0, "sos"),
        (1, "overspeed"),
        (2, "fatigue_driving"),
        (4, "gnss_fault"),
        (5, "gnss_fault"),
        (6, "gnss_fault"),
        (7, "low_battery"),
        (8, "power_cut"),
        (28, "movement"),
        (29, "collision"),
        (30, "rollover"),
        (3, "other"),
        (26, "other"),
        (31, "other"),
    ],
)
def test_each_alarm_bit_has_its_platform_name(bit: int, name: str) -> None:
    assert decode_location(basic(1 << bit)).alarms == (name,)


def test_alarm_names_come_in_bit_order_each_once() -> None:
    flags = (1 << 0) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 9) | (1 << 10)

    assert alarm_names(flags, []) == ("sos", "gnss_fault", "power_cut", "other")


def test_every_bit_maps_into_alarms() -> None:
    assert set(alarm_names(0xFFFFFFFF, [])) <= ALARMS
    assert set(alarm_names(0xFFFFFFFF, [0, 1])) <= ALARMS


@pytest.mark.parametrize(("direction", "name"), [(0, "geofence_enter"), (1, "geofence_exit")])
def test_area_alarm_is_named_by_the_area_items_direction(direction: int, name: str) -> None:
    item = bytes([0x12, 6, 1]) + (77).to_bytes(4, "big") + bytes([direction])

    fix = decode_location(basic(1 << 20) + item)

    assert fix.alarms == (name,)
    assert fix.extras["area"] == {"type": 1, "id": 77, "out": direction}


def test_area_alarm_without_its_item_is_other() -> None:
    assert decode_location(basic(1 << 21)).alarms == ("other",)


def test_analog_item_splits_into_its_two_channels() -> None:
    fix = decode_location(basic(0) + bytes([0x2B, 4, 0x00, 0x02, 0x00, 0x01]))

    assert fix.extras["analog_ad0"] == 1
    assert fix.extras["analog_ad1"] == 2


def test_an_item_running_past_the_body_is_kept_as_trailing_bytes() -> None:
    fix = decode_location(basic(0) + bytes([0x01, 9, 0xAA]))

    assert fix.extras["trailing"] == "0109aa"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (bytes(27), "location body of 27 bytes, the basic information alone is 28"),
        (basic(0)[:22] + bytes.fromhex("2403011200ff"), "time 2403011200ff is not BCD"),
        (basic(0)[:22] + bytes.fromhex("241301120000"), "time 241301120000 is not a date"),
    ],
)
def test_malformed_location_bodies_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(BodyError, match=reason):
        decode_location(body)


def test_batch_whose_report_runs_past_the_body_is_refused() -> None:
    report = basic(0)
    body = (
        (2).to_bytes(2, "big") + b"\x00" + len(report).to_bytes(2, "big") + report + (40).to_bytes(2, "big")
    )

    with pytest.raises(BodyError, match="report 2 of 40 bytes runs past the body's end"):
        decode_batch(body)
