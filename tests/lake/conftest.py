"""Fixtures for lake tests: a lake in a temporary folder and a small record factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from safecity.core.kinds import KIND_SPECS, RecordKind
from safecity.core.record import RECORD_SCHEMA
from safecity.lake import Lake

DAY0 = datetime(2024, 5, 1, tzinfo=UTC)

RecordFactory = Callable[[Sequence[dict[str, Any]]], pl.DataFrame]


def make_records(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Build a record batch; each row names kind, subject and ts, the rest has plausible defaults."""
    full = []
    for i, row in enumerate(rows):
        kind = row.get("kind", "rfid_read")
        full.append(
            {
                "event_id": f"E{i:06d}",
                "corr_id": None,
                "kind": kind,
                "subject_kind": KIND_SPECS[RecordKind(kind)].subject_kind.value,
                "subject": "T00000001",
                "device": "ST00001",
                "ts": DAY0,
                "lat": 27.99,
                "lon": 120.69,
                "cell": 617700169958293503,
                "area": "330302001",
                "code": None,
                "value": None,
                "attrs": None,
                "source": "sim",
                "received_at": row.get("ts", DAY0),
                **row,
            }
        )
    return pl.DataFrame(full, schema=RECORD_SCHEMA)


@pytest.fixture
def records() -> RecordFactory:
    """The record factory."""
    return make_records


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    """An empty lake in a temporary folder."""
    store = Lake(tmp_path / "lake")
    yield store
    store.close()


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """A frame in a total order, to compare results whose tie order is not part of the contract."""
    return frame.sort(list(RECORD_SCHEMA), nulls_last=True)
