"""The writer: schema checks and the split of a batch into (UTC date, kind) partitions."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from safecity.core.record import RECORD_SCHEMA
from safecity.lake.writer import check_records, encode_part, split_partitions
from tests.lake.conftest import DAY0, RecordFactory


def test_check_lists_every_problem_at_once(records: RecordFactory) -> None:
    bad = records([{}]).drop("area").with_columns(pl.col("cell").cast(pl.Int64), junk=pl.lit("x"))
    with pytest.raises(ValueError, match="RECORD_SCHEMA") as caught:
        check_records(bad)
    message = str(caught.value)
    assert "missing columns ['area']" in message
    assert "unexpected columns ['junk']" in message
    assert "cell is Int64 (expected UInt64)" in message


def test_single_partition_batch_is_not_copied(records: RecordFactory) -> None:
    batch = records([{"ts": DAY0 + timedelta(minutes=i)} for i in range(5)])
    parts = split_partitions(batch)
    assert list(parts) == [(date(2024, 5, 1), "rfid_read")]
    assert parts[(date(2024, 5, 1), "rfid_read")] is batch


def test_mixed_batch_is_split_by_date_and_kind(records: RecordFactory) -> None:
    batch = records(
        [
            {"ts": DAY0, "kind": "alarm"},
            {"ts": DAY0 - timedelta(milliseconds=1)},
            {"ts": DAY0 + timedelta(hours=1)},
        ]
    )
    parts = split_partitions(batch)
    assert {key: frame.height for key, frame in parts.items()} == {
        (date(2024, 5, 1), "alarm"): 1,
        (date(2024, 4, 30), "rfid_read"): 1,
        (date(2024, 5, 1), "rfid_read"): 1,
    }
    assert all(frame.columns == list(RECORD_SCHEMA) for frame in parts.values())


def test_encoded_part_reads_back_identically(records: RecordFactory, tmp_path: Path) -> None:
    batch = records([{"attrs": '{"a": 1}', "value": 2.5, "code": "X"}, {}])
    target = tmp_path / "p.parquet"
    target.write_bytes(encode_part(batch))
    assert pl.read_parquet(target).equals(batch)
    assert pq.read_metadata(target).row_group(0).column(6).statistics.has_min_max  # ts
