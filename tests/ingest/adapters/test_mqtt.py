"""The MQTT adapter's topics and result encoding (the broker round trips are in tests/integration)."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from safecity.ingest.adapters.mqtt import MqttAdapter, device_of, is_topic_segment, result_json
from safecity.ingest.pipeline import IngestResult, Rejection

PREFIX = "safecity/v1"
device_ids = st.text(st.characters(blacklist_characters="/+#\x00"), min_size=1, max_size=64)


@given(device_ids)
def test_device_id_is_read_back_from_its_events_topic(device: str) -> None:
    assert device_of(f"{PREFIX}/devices/{device}/events", PREFIX) == device


def test_other_topic_shapes_name_no_device() -> None:
    for topic in (
        f"{PREFIX}/devices//events",
        f"{PREFIX}/devices/a/b/events",
        f"{PREFIX}/devices/a/results",
        "other/v1/devices/a/events",
        f"{PREFIX}/devices/a/events/extra",
    ):
        assert device_of(topic, PREFIX) is None, topic


def test_result_json_lists_every_rejection() -> None:
    result = IngestResult("B1", received=3, accepted=2, stored=1, dead_lettered=1, duplicates=1)
    result.rejected = [Rejection(2, "e3", "ts", "missing")]

    decoded = msgspec.json.decode(result_json(result))

    assert decoded["stored"] == 1
    assert decoded["rejected"] == [{"index": 2, "event_id": "e3", "field": "ts", "reason": "missing"}]


@given(st.text(max_size=64))
def test_a_device_that_can_be_messaged_is_the_one_its_events_topic_names(device: str) -> None:
    if is_topic_segment(device):
        assert device_of(f"{PREFIX}/devices/{device}/events", PREFIX) == device


def test_ids_that_cannot_be_one_topic_level_are_not_messaged() -> None:
    for device in ("", "a/b", "a+", "#", "a\x00b"):
        assert not is_topic_segment(device), device


def test_commands_go_to_the_device_commands_topic() -> None:
    adapter = MqttAdapter(object(), prefix="city/v1/")  # type: ignore[arg-type]
    assert adapter.commands_topic("BS-1") == "city/v1/devices/BS-1/commands"
    assert not adapter.reaches("BS-1")  # not running
