"""Fixtures for ingest: a registry with two devices and a pipeline writing to a list sink."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.ingest import Deduplicator, DeviceDirectory, IngestLimits, IngestPipeline
from safecity.lake import Lake, Recovery
from safecity.security.pseudonym import Pseudonymizer
from tests.conftest import T0


class ListSink:
    """Keeps appended batches in memory; can be told to fail like a full disk."""

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.fail = False

    def append(self, records: pl.DataFrame, *, batch: str, commit: Callable[[], None]) -> int:
        if self.fail:
            raise OSError(28, "No space left on device")
        commit()
        self.frames.append(records)
        return records.height

    def recover(self, committed: Callable[[list[str]], set[str]]) -> Recovery:
        return Recovery()

    def event_ids(self, day: date) -> pl.Series:
        if not self.frames:
            return pl.Series("event_id", [], pl.String)
        return self.all.filter(pl.col("ts").dt.date() == day)["event_id"]

    def count(self) -> int:
        return sum(f.height for f in self.frames)

    @property
    def all(self) -> pl.DataFrame:
        return pl.concat(self.frames) if self.frames else pl.DataFrame()


def register_station(factory: sessionmaker[Session], device_id: str = "BS-000001") -> str:
    """Register a fixed base station (28.0 N, 120.7 E); return its secret."""
    with factory() as s, s.begin():
        _, secret = registry.create_device(
            s,
            device_id=device_id,
            kind="rfid_station",
            name=f"Station {device_id}",
            lat=28.0,
            lon=120.7,
            area_id=None,
            now=T0,
        )
    return secret


@pytest.fixture
def secrets_(session_factory: sessionmaker[Session]) -> dict[str, str]:
    """Register a base station and a tracker; return their secrets."""
    out = {"BS-000001": register_station(session_factory)}
    with session_factory() as s, s.begin():
        _, out["TRK-0001"] = registry.create_device(
            s, device_id="TRK-0001", kind="tracker", name="Tracker", lat=None, lon=None, area_id=None, now=T0
        )
    return out


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    """A real lake in the test's folder (a module uses it as the pipeline's sink by overriding `sink`)."""
    store = Lake(tmp_path / "lake")
    yield store
    store.close()


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def pipeline(
    session_factory: sessionmaker[Session],
    secrets_: dict[str, str],
    sink: ListSink,
    clock: ManualClock,
    pseudonymizer: Pseudonymizer,
) -> IngestPipeline:
    return IngestPipeline(
        session_factory=session_factory,
        devices=DeviceDirectory(session_factory, h3_resolution=9),
        sink=sink,
        dedup=Deduplicator(load=sink.event_ids, max_age_s=7 * 86400, future_skew_s=300),
        clock=clock,
        pseudonymizer=pseudonymizer,
        limits=IngestLimits(
            max_event_age_s=7 * 86400,
            max_future_skew_s=300,
            max_batch_events=1000,
            max_body_bytes=100_000,
            h3_resolution=9,
            bbox=None,
        ),
    )


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(e, ensure_ascii=False) for e in events).encode()


def read(i: int, **over: Any) -> dict[str, Any]:
    event = {
        "v": 1,
        "id": f"e{i}",
        "kind": "rfid_read",
        "ts": "2026-11-22T07:59:00.250Z",
        "subject": "0123456789",
    }
    event.update(over)
    return event
