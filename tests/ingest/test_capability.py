"""The ingest capability: the MQTT adapter and the tracker servers are workers it builds when configured."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from safecity.core.capabilities import installed
from safecity.core.worker import Worker
from safecity.ingest.adapters import DeviceLinks
from safecity.ingest.adapters.mqtt import MqttAdapter
from safecity.ingest.adapters.tcp.server import TrackerServer
from safecity.ingest.capability import CAPABILITY
from safecity.settings import Settings


def platform(tmp_path: Path, **settings: object) -> SimpleNamespace:
    return SimpleNamespace(
        settings=Settings(data_dir=tmp_path, **settings), ingest=object(), device_links=DeviceLinks()
    )


def test_no_broker_no_adapter(tmp_path: Path) -> None:
    assert CAPABILITY.build is not None
    assert list(CAPABILITY.build(platform(tmp_path))) == []


def test_the_mqtt_adapter_is_built_from_the_settings(tmp_path: Path) -> None:
    p = platform(
        tmp_path,
        mqtt_url="mqtt://broker.example:1884",
        mqtt_topic_prefix="city/v1/",
        mqtt_client_id="ingest-7",
        mqtt_linger_ms=40,
    )
    assert CAPABILITY.build is not None

    [adapter] = CAPABILITY.build(p)

    assert isinstance(adapter, MqttAdapter) and isinstance(adapter, Worker)
    assert (adapter.name, adapter.host, adapter.port, adapter.prefix) == (
        "mqtt",
        "broker.example",
        1884,
        "city/v1",
    )
    assert (adapter.client_id, adapter.linger_s) == ("ingest-7", 0.04)
    assert adapter.commands_topic("BS-1") == "city/v1/devices/BS-1/commands"
    assert adapter._links is p.device_links
    assert CAPABILITY in installed()


def test_a_tracker_server_is_built_for_each_enabled_protocol(tmp_path: Path) -> None:
    p = platform(tmp_path, jt808_enabled=True, jt808_port=6808, tracker_idle_timeout_s=60)
    p.session_factory, p.clock = object(), SimpleNamespace(now=lambda: None)
    assert CAPABILITY.build is not None

    [server] = CAPABILITY.build(p)

    assert isinstance(server, TrackerServer) and isinstance(server, Worker)
    assert (server.name, server.port, server.idle_timeout_s) == ("jt808-server", 6808, 60)
    assert server.max_buffer_bytes == 64 * 1024
