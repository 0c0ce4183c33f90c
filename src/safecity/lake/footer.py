"""Parquet footers cut down to a few row groups, so one row group is read without parsing all of them.

A Parquet footer is a Thrift compact-protocol `FileMetaData`: the schema, then one `RowGroup`
entry per row group (about 1.2 kB each for our 16 columns). Parsing the whole footer costs
about 15 us per row group, and pyarrow keeps about 13 kB per row group in memory, so small row
groups make every open of a file slow and a cache of parsed footers large. This module finds,
once per file, where each row-group entry starts and ends inside the footer bytes; any subset
of row groups then makes a valid footer by concatenation (schema, a shorter list, the rest),
which pyarrow parses in about 50 us and uses to read those row groups from the original file:
column-chunk offsets inside the entries are absolute, so they stay right.

Only the parts of the Thrift compact protocol that a footer can hold are walked; anything else
raises `FooterError`, and callers fall back to an ordinary read.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

MAGIC = b"PAR1"
# Thrift compact types (field-header low nibble).
_BOOL_TRUE, _BOOL_FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_ROW_GROUPS_FIELD = 4
_NUM_ROWS_FIELD = 3
# The deepest nesting a footer has is a handful of levels; a corrupt file must not recurse forever.
_MAX_DEPTH = 16
# A row-group entry opens with its columns-list header (1 byte, then the count) and the first
# column chunk's first field header: 4 bytes for our 16 columns.
_OPENING_BYTES = 4


class FooterError(ValueError):
    """The bytes are not a footer this module can cut (corrupt, encrypted, or unexpected)."""


@dataclass(frozen=True, slots=True)
class FooterLayout:
    """Where the row-group entries lie inside one file's footer bytes."""

    footer: bytes
    # footer[:rows_value[0]] + new num_rows + footer[rows_value[1]:list_start] is the head.
    rows_value: tuple[int, int]
    # Offset of the row_groups list header; the entries follow it.
    list_start: int
    spans: tuple[tuple[int, int], ...]
    # Offset of the first field after the list (key-value metadata, created_by, ...).
    tail_start: int

    @property
    def num_row_groups(self) -> int:
        """Row groups of the file."""
        return len(self.spans)

    def sliced(self, groups: Sequence[int], rows: int) -> bytes:
        """A complete Parquet tail (footer, length, magic) listing only `groups` (holding `rows`)."""
        footer = self.footer
        start, end = self.rows_value
        parts = [
            footer[:start],
            _varint(_zigzag(rows)),
            footer[end : self.list_start],
            _list_header(len(groups), _STRUCT),
            *(footer[self.spans[g][0] : self.spans[g][1]] for g in groups),
            footer[self.tail_start :],
        ]
        body = b"".join(parts)
        return MAGIC + body + struct.pack("<I", len(body)) + MAGIC


def read_footer(path: str) -> bytes:
    """The raw footer bytes of a Parquet file (one read of its end)."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size < 12:
            raise FooterError(f"{path}: {size} bytes is too short for Parquet")
        file.seek(size - 8)
        trailer = file.read(8)
        if trailer[4:] != MAGIC:
            raise FooterError(f"{path}: no Parquet magic at the end (encrypted or not Parquet)")
        length = struct.unpack("<I", trailer[:4])[0]
        if length > size - 12:
            raise FooterError(f"{path}: footer length {length} exceeds the file")
        file.seek(size - 8 - length)
        return file.read(length)


def layout_of(footer: bytes) -> FooterLayout:
    """Find the num_rows value and the row-group entries of a FileMetaData footer."""
    try:
        return _layout(footer)
    except IndexError as exc:
        raise FooterError("footer ends in the middle of a value") from exc


def _layout(footer: bytes) -> FooterLayout:
    pos, field = 0, 0
    rows_value: tuple[int, int] | None = None
    while True:
        header = footer[pos]
        pos += 1
        if header == 0:
            raise FooterError("footer has no row_groups field")
        field, pos = _field_id(footer, pos, header, field)
        kind = header & 0x0F
        if field == _NUM_ROWS_FIELD and kind == _I64:
            end = _skip(footer, pos, kind, 0)
            rows_value = (pos, end)
            pos = end
        elif field == _ROW_GROUPS_FIELD and kind == _LIST:
            break
        else:
            pos = _skip(footer, pos, kind, 0)
    if rows_value is None:
        raise FooterError("footer has no num_rows before its row groups")
    list_start = pos
    count, element, pos = _read_list_header(footer, pos)
    if element != _STRUCT:
        raise FooterError(f"row_groups is a list of type {element}, not of structs")
    starts = _entry_starts(footer, pos, count)
    if starts is None:
        starts = []
        for _ in range(count):
            starts.append(pos)
            pos = _skip(footer, pos, _STRUCT, 0)
    else:
        pos = _skip(footer, starts[-1], _STRUCT, 0) if starts else pos
    ends = [*starts[1:], pos]
    return FooterLayout(footer, rows_value, list_start, tuple(zip(starts, ends, strict=True)), pos)


def _entry_starts(footer: bytes, first: int, count: int) -> list[int] | None:
    """Row-group starts found by their common opening bytes, or None if that is not certain.

    Walking every entry in Python costs about 0.25 ms per row group. Every entry of one file
    opens with the same bytes (its columns-list header and the first column's file_offset
    field header) and follows the stop byte of the one before. If exactly `count` places in
    the list look like that, they are the entries: every real start matches, so any false
    match would make one too many.
    """
    if count < 2:
        return None
    prefix = footer[first : first + _OPENING_BYTES]
    starts, pos = [first], first
    while len(starts) <= count:
        pos = footer.find(prefix, pos + 1)
        if pos < 0:
            break
        if footer[pos - 1] == 0:
            starts.append(pos)
    return starts if len(starts) == count else None


def _field_id(data: bytes, pos: int, header: int, previous: int) -> tuple[int, int]:
    delta = header >> 4
    if delta:
        return previous + delta, pos
    value, pos = _read_varint(data, pos)
    return _unzigzag(value), pos


def _skip(data: bytes, pos: int, kind: int, depth: int) -> int:
    """Position just after one value of this compact type starting at `pos`."""
    if depth > _MAX_DEPTH:
        raise FooterError("footer nests deeper than any Parquet footer does")
    if kind in (_BOOL_TRUE, _BOOL_FALSE):
        return pos  # the value lives in the field header
    if kind == _BYTE:
        return pos + 1
    if kind in (_I16, _I32, _I64):
        while data[pos] & 0x80:
            pos += 1
        return pos + 1
    if kind == _DOUBLE:
        return pos + 8
    if kind == _BINARY:
        length, pos = _read_varint(data, pos)
        return pos + length
    if kind in (_LIST, _SET):
        count, element, pos = _read_list_header(data, pos)
        if element in (_BOOL_TRUE, _BOOL_FALSE):
            return pos + count  # booleans in a list take one byte each
        for _ in range(count):
            pos = _skip(data, pos, element, depth + 1)
        return pos
    if kind == _MAP:
        count, pos = _read_varint(data, pos)
        if count == 0:
            return pos
        types = data[pos]
        pos += 1
        for _ in range(count):
            pos = _skip(data, pos, types >> 4, depth + 1)
            pos = _skip(data, pos, types & 0x0F, depth + 1)
        return pos
    if kind == _STRUCT:
        field = 0
        while True:
            header = data[pos]
            pos += 1
            if header == 0:
                return pos
            field, pos = _field_id(data, pos, header, field)
            pos = _skip(data, pos, header & 0x0F, depth + 1)
    raise FooterError(f"unknown Thrift compact type {kind}")


def _read_list_header(data: bytes, pos: int) -> tuple[int, int, int]:
    header = data[pos]
    pos += 1
    count = header >> 4
    if count == 15:
        count, pos = _read_varint(data, pos)
    return count, header & 0x0F, pos


def _list_header(count: int, element: int) -> bytes:
    if count < 15:
        return bytes([(count << 4) | element])
    return bytes([0xF0 | element]) + _varint(count)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)
