"""Behaviour of the lake through its public API: append, path, window, scan, count, retention."""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safecity.core.geo import BBox
from safecity.core.record import RECORD_SCHEMA
from safecity.lake import Lake
from tests.lake.conftest import DAY0, RecordFactory, canonical, make_records

MONTH = (DAY0 - timedelta(days=1), DAY0 + timedelta(days=30))


def test_append_then_path_round_trips_exactly(lake: Lake, records: RecordFactory) -> None:
    batch = records(
        [
            {"subject": "T1", "ts": DAY0 + timedelta(hours=3), "attrs": '{"rssi": -61}', "value": 1.5},
            {"subject": "T2", "ts": DAY0 + timedelta(hours=1)},
            {"subject": "T1", "ts": DAY0 + timedelta(hours=1), "corr_id": "c-9", "code": "X"},
        ]
    )
    assert lake.append(batch) == 3

    path = lake.path(subject_kind="tag", subject="T1", start=MONTH[0], end=MONTH[1])

    assert path.schema == pl.Schema(RECORD_SCHEMA)
    assert path.equals(batch.filter(pl.col("subject") == "T1").sort("ts"))


def test_path_is_half_open_and_respects_limit(lake: Lake, records: RecordFactory) -> None:
    lake.append(records([{"ts": DAY0 + timedelta(minutes=m), "event_id": f"e{m}"} for m in range(10)]))

    window = lake.path(
        subject_kind="tag",
        subject="T00000001",
        start=DAY0 + timedelta(minutes=2),
        end=DAY0 + timedelta(minutes=5),
    )
    limited = lake.path(subject_kind="tag", subject="T00000001", start=MONTH[0], end=MONTH[1], limit=4)

    assert window["event_id"].to_list() == ["e2", "e3", "e4"]
    assert limited["event_id"].to_list() == ["e0", "e1", "e2", "e3"]


@pytest.mark.parametrize("compacted", [False, True])
def test_path_of_several_names_is_one_time_ordered_path(
    lake: Lake, records: RecordFactory, compacted: bool
) -> None:
    # One person's identity number under key versions 1 and 2, among other people's swipes.
    names = ["1.aaaa", "2.bbbb"]
    rows = [
        {
            "kind": "door_swipe",
            "subject": s,
            "ts": DAY0 + timedelta(days=d, hours=h),
            "event_id": f"{s}-{d}-{h}",
        }
        for d, s in enumerate(["1.aaaa", "1.cccc", "2.bbbb", "2.dddd"])
        for h in range(3)
    ]
    lake.append(records(rows))
    if compacted:
        lake.compact(min_files=1)

    both = lake.path(subject_kind="id_card", subject=names, start=MONTH[0], end=MONTH[1])
    one = lake.path(subject_kind="id_card", subject="2.bbbb", start=MONTH[0], end=MONTH[1])

    assert both["subject"].to_list() == ["1.aaaa"] * 3 + ["2.bbbb"] * 3
    assert both["ts"].is_sorted()
    assert one.equals(lake.path(subject_kind="id_card", subject=["2.bbbb"], start=MONTH[0], end=MONTH[1]))
    assert lake.path(subject_kind="id_card", subject=[], start=MONTH[0], end=MONTH[1]).is_empty()


def test_records_are_partitioned_by_utc_date_across_midnight(lake: Lake, records: RecordFactory) -> None:
    before = datetime(2024, 5, 1, 23, 59, 59, 999000, tzinfo=UTC)
    # 07:30 in Wenzhou (+08:00) on 2 May is still 1 May in UTC.
    local_morning = datetime.fromisoformat("2024-05-02T07:30:00+08:00")
    after = datetime(2024, 5, 2, 0, 0, tzinfo=UTC)
    lake.append(
        records([{"ts": before}, {"ts": local_morning}, {"ts": after}, {"ts": after, "kind": "heartbeat"}])
    )

    layout = {(p.date, p.kind): p.rows for p in lake.partitions()}

    assert layout == {
        (date(2024, 5, 1), "rfid_read"): 2,
        (date(2024, 5, 2), "heartbeat"): 1,
        (date(2024, 5, 2), "rfid_read"): 1,
    }
    assert (lake.root / "records" / "date=2024-05-02" / "kind=heartbeat").is_dir()


def test_schema_mismatch_is_refused_with_a_clear_message(lake: Lake, records: RecordFactory) -> None:
    batch = records([{}])
    with pytest.raises(ValueError, match=r"missing columns \['cell'\]"):
        lake.append(batch.drop("cell"))
    with pytest.raises(ValueError, match=r"unexpected columns \['extra'\]"):
        lake.append(batch.with_columns(extra=pl.lit(1)))
    with pytest.raises(
        ValueError, match=r"ts is Datetime\(time_unit='us'.*expected Datetime\(time_unit='ms'"
    ):
        lake.append(batch.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))))
    assert lake.count() == 0


def test_rows_without_ts_or_with_unsafe_kind_are_refused(lake: Lake, records: RecordFactory) -> None:
    with pytest.raises(ValueError, match="1 null ts"):
        lake.append(records([{}]).with_columns(ts=pl.lit(None, RECORD_SCHEMA["ts"])))
    with pytest.raises(ValueError, match="lower-case identifiers"):
        lake.append(records([{}]).with_columns(kind=pl.lit("../../etc")))
    assert not (lake.root / "records").exists()


def test_column_order_does_not_matter(lake: Lake, records: RecordFactory) -> None:
    batch = records([{}])
    lake.append(batch.select(reversed(batch.columns)))
    assert lake.path(subject_kind="tag", subject="T00000001", start=MONTH[0], end=MONTH[1]).equals(batch)


def test_empty_lake_answers_with_empty_frames(lake: Lake) -> None:
    assert lake.path(subject_kind="tag", subject="T1", start=MONTH[0], end=MONTH[1]).schema == pl.Schema(
        RECORD_SCHEMA
    )
    assert lake.window(start=MONTH[0], end=MONTH[1]).is_empty()
    assert lake.scan(start=MONTH[0], end=MONTH[1]).collect().schema == pl.Schema(RECORD_SCHEMA)
    assert lake.count() == 0
    assert lake.partitions() == []
    assert lake.append(make_records([])) == 0


def test_window_returns_records_inside_the_box_and_time(lake: Lake, records: RecordFactory) -> None:
    noon = DAY0 + timedelta(hours=12)
    lake.append(
        records(
            [
                {"event_id": "in", "ts": noon, "lat": 28.0, "lon": 120.7},
                {"event_id": "edge", "ts": noon + timedelta(minutes=59), "lat": 28.01, "lon": 120.71},
                {"event_id": "outside", "ts": noon, "lat": 28.2, "lon": 120.7},
                {"event_id": "late", "ts": noon + timedelta(hours=1), "lat": 28.0, "lon": 120.7},
                {"event_id": "alarm", "ts": noon, "lat": 28.0, "lon": 120.7, "kind": "alarm"},
            ]
        )
    )
    box = BBox(south=27.99, west=120.69, north=28.01, east=120.71)

    hits = lake.window(start=noon, end=noon + timedelta(hours=1), bbox=box)
    tags_only = lake.window(start=noon, end=noon + timedelta(hours=1), bbox=box, kinds=["rfid_read"])

    assert sorted(hits["event_id"]) == ["alarm", "edge", "in"]
    assert tags_only["event_id"].to_list() == ["in", "edge"]
    assert hits["ts"].is_sorted()


def test_scan_is_lazy_over_the_time_range_and_kinds(lake: Lake, records: RecordFactory) -> None:
    lake.append(
        records([{"ts": DAY0 + timedelta(days=d), "kind": k} for d in range(3) for k in ("alarm", "count")])
    )

    frame = lake.scan(start=DAY0 + timedelta(days=1), end=DAY0 + timedelta(days=3), kinds=["count"])

    assert isinstance(frame, pl.LazyFrame)
    collected = frame.collect()
    assert collected.height == 2
    assert set(collected["kind"]) == {"count"}


def test_count_is_exact_for_open_and_closed_bounds(lake: Lake, records: RecordFactory) -> None:
    stamps = [DAY0 + timedelta(hours=7 * i) for i in range(20)]
    lake.append(records([{"ts": t} for t in stamps]))
    cut1, cut2 = DAY0 + timedelta(hours=30), DAY0 + timedelta(hours=100)

    assert lake.count() == 20
    assert lake.count(start=cut1) == sum(t >= cut1 for t in stamps)
    assert lake.count(end=cut2) == sum(t < cut2 for t in stamps)
    assert lake.count(start=cut1, end=cut2) == sum(cut1 <= t < cut2 for t in stamps)
    assert lake.count(start=cut2, end=cut1) == 0


def test_naive_datetimes_are_refused(lake: Lake) -> None:
    with pytest.raises(ValueError, match="naive"):
        lake.path(subject_kind="tag", subject="T1", start=datetime(2024, 5, 1), end=datetime(2024, 5, 2))


def test_drop_partitions_deletes_only_older_partitions_of_given_kinds(
    lake: Lake, records: RecordFactory
) -> None:
    days = [DAY0 + timedelta(days=d) for d in range(4)]
    lake.append(records([{"ts": t, "kind": k} for t in days for k in ("rfid_read", "door_swipe")]))

    deleted = lake.drop_partitions(before=date(2024, 5, 3), kinds=["door_swipe"])

    assert deleted == 2
    assert [(p.date.day, p.kind) for p in lake.partitions()] == [
        (1, "rfid_read"),
        (2, "rfid_read"),
        (3, "door_swipe"),
        (3, "rfid_read"),
        (4, "door_swipe"),
        (4, "rfid_read"),
    ]
    assert lake.drop_partitions(before=date(2024, 5, 3)) == 2
    assert lake.count() == 4
    assert not (lake.root / "records" / "date=2024-05-01").exists()
    assert list((lake.root / ".trash").iterdir()) == []


def test_count_stays_exact_while_compaction_runs(tmp_path: Path, records: RecordFactory) -> None:
    lake = Lake(tmp_path / "lake")
    for batch in range(12):
        lake.append(
            records([{"ts": DAY0 + timedelta(days=d, minutes=batch), "kind": "rfid_read"} for d in range(6)])
        )
    total = lake.count()
    seen: list[int] = []
    worker = threading.Thread(target=lake.compact)
    worker.start()
    while worker.is_alive():
        seen.append(lake.count())
    worker.join()

    assert total == 72
    assert seen  # counts really ran while the compaction did
    assert set(seen) == {total}
    assert lake.count() == total
    assert all(p.files == 1 for p in lake.partitions())


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "subject": st.sampled_from(["T1", "T2", "T3"]),
            "kind": st.sampled_from(["rfid_read", "heartbeat"]),
            # Three days around two midnights, to millisecond precision.
            "ts": st.integers(0, 3 * 86_400_000 - 1).map(lambda ms: DAY0 + timedelta(milliseconds=ms)),
            "lat": st.floats(27.9, 28.1),
        }
    ),
    max_size=40,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(rows_strategy, min_size=1, max_size=4))
def test_append_and_compaction_preserve_rows_and_paths(batches: list[list[dict[str, object]]]) -> None:
    frames = [
        make_records(rows).with_columns(event_id=pl.format("b{}-{}", pl.lit(i), "event_id"))
        for i, rows in enumerate(batches)
    ]
    everything = pl.concat(frames)
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake(Path(folder))
        for frame in frames:
            lake.append(frame)
        before = {
            s: lake.path(subject_kind="tag", subject=s, start=MONTH[0], end=MONTH[1]) for s in ("T1", "T2")
        }
        lake.compact(min_files=1)
        for subject, path in before.items():
            after = lake.path(subject_kind="tag", subject=subject, start=MONTH[0], end=MONTH[1])
            expected = everything.filter((pl.col("subject") == subject) & (pl.col("kind") == "rfid_read"))
            assert after["ts"].is_sorted()
            assert canonical(after).equals(canonical(path))
            assert canonical(after).equals(canonical(expected))
        assert lake.count() == everything.height
        assert lake.compact(min_files=1).partitions == 0
        lake.close()
