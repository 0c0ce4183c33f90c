"""Replay adapter: a recorded NDJSON file fed through ingest in batches, trusted to name each event's device.

Each batch is one `Part` with no authenticated device (`device_id=None`): every event must name
a registered device, and takes the same validation, dead letters and ledger as live data. It
runs in the caller's thread (the `safecity replay` command), without the bus.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import polars as pl

from safecity.ingest.pipeline import IngestResult, Part, Submission

SOURCE = "replay"
BYTES_PER_EVENT = 200  # a batch is read as about this many bytes per event, in whole lines


class Processor(Protocol):
    """The synchronous pipeline call (IngestPipeline.process)."""

    def process(self, parts: Sequence[Submission]) -> tuple[list[IngestResult], pl.DataFrame]:
        """Make the parts durable or dead letters; one result per part and the stored records."""
        ...


@dataclass(frozen=True, slots=True)
class Replayed:
    """One batch of the file: its result and how many bytes of the file it took."""

    result: IngestResult
    bytes_read: int


@dataclass(slots=True)
class ReplayTotals:
    """What a replay did, summed over its batches."""

    received: int = 0
    stored: int = 0
    dead_lettered: int = 0
    duplicates: int = 0

    def add(self, result: IngestResult) -> None:
        """Count one batch's result."""
        self.received += result.received
        self.stored += result.stored
        self.dead_lettered += result.dead_lettered
        self.duplicates += result.duplicates


def replay(pipeline: Processor, file: BinaryIO, *, batch_events: int) -> Iterator[Replayed]:
    """Feed the file through the pipeline batch by batch, yielding each batch's result as it is durable."""
    while lines := file.readlines(max(1, batch_events) * BYTES_PER_EVENT):
        [result], _ = pipeline.process([Part(body=b"".join(lines), device_id=None, source=SOURCE)])
        yield Replayed(result, sum(len(line) for line in lines))
