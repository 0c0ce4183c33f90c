"""Cutting Parquet footers down to a few row groups: the cut footer reads exactly those groups."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.lake import footer
from safecity.lake.footer import FooterError, layout_of, read_footer

GROUP_ROWS = 5


def write_groups(path: Path, groups: int) -> pa.Table:
    """A small file of `groups` row groups with strings, nulls, dictionaries and statistics."""
    n = groups * GROUP_ROWS
    table = pa.table(
        {
            "subject": [f"T{i:05d}" for i in range(n)],
            "kind": ["rfid_read"] * n,
            "ts": pa.array(range(n), pa.timestamp("ms", "UTC")),
            "note": [None if i % 3 else f"n{i}" for i in range(n)],
            "value": [float(i) / 7 for i in range(n)],
        }
    )
    pq.write_table(
        table,
        path,
        row_group_size=GROUP_ROWS,
        use_dictionary=["kind"],
        write_statistics=["subject", "ts"],
        compression="lz4",
        store_schema=False,
    )
    return table


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    path = tmp_path_factory.mktemp("footer") / "sample.parquet"
    return path, write_groups(path, 40)


@settings(max_examples=30, deadline=None)
@given(picked=st.sets(st.integers(0, 39), min_size=1, max_size=20))
def test_cut_footer_reads_exactly_the_chosen_row_groups(
    sample: tuple[Path, pa.Table], picked: set[int]
) -> None:
    path, table = sample
    groups = sorted(picked)
    layout = layout_of(read_footer(str(path)))

    meta = pq.read_metadata(pa.BufferReader(layout.sliced(groups, GROUP_ROWS * len(groups))))
    got = pq.ParquetFile(str(path), metadata=meta).read()

    expected = pa.concat_tables([table.slice(g * GROUP_ROWS, GROUP_ROWS) for g in groups])
    assert meta.num_rows == GROUP_ROWS * len(groups)
    assert meta.num_row_groups == len(groups)
    assert got.cast(expected.schema).equals(expected)


def test_opening_bytes_shortcut_agrees_with_the_full_walk(
    sample: tuple[Path, pa.Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = read_footer(str(sample[0]))
    fast = layout_of(raw)
    monkeypatch.setattr(footer, "_entry_starts", lambda *_: None)
    assert layout_of(raw) == fast
    assert fast.num_row_groups == 40


def test_more_than_fourteen_groups_use_the_long_list_header(sample: tuple[Path, pa.Table]) -> None:
    path, table = sample
    layout = layout_of(read_footer(str(path)))
    meta = pq.read_metadata(pa.BufferReader(layout.sliced(list(range(20)), 100)))
    assert meta.num_row_groups == 20
    assert pq.ParquetFile(str(path), metadata=meta).read().num_rows == 100


def test_single_group_file_is_walked(tmp_path: Path) -> None:
    path = tmp_path / "one.parquet"
    write_groups(path, 1)
    layout = layout_of(read_footer(str(path)))
    assert layout.num_row_groups == 1


def test_non_parquet_files_are_refused(tmp_path: Path) -> None:
    short = tmp_path / "short.parquet"
    short.write_bytes(b"PAR1")
    other = tmp_path / "other.parquet"
    other.write_bytes(b"x" * 64)
    with pytest.raises(FooterError, match="too short"):
        read_footer(str(short))
    with pytest.raises(FooterError, match="no Parquet magic"):
        read_footer(str(other))
    with pytest.raises(FooterError):
        layout_of(b"\x15\x02")  # a version field, then the footer ends
