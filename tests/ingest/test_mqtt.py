"""The MQTT adapter's topic parsing and result encoding (the broker round trips are in tests/integration)."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from safecity.ingest.mqtt import device_of, result_json
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
