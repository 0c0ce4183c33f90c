"""Ingest: device payloads in, validated records out; dead letters and the batch ledger."""

from safecity.ingest.dedup import Deduplicator
from safecity.ingest.devices import DeviceAuth, DeviceDirectory
from safecity.ingest.pipeline import (
    DecodedPart,
    IngestLimits,
    IngestPipeline,
    IngestResult,
    Part,
    RecordSink,
    Rejection,
    StorageUnavailable,
    Submission,
)

__all__ = [
    "DecodedPart",
    "Deduplicator",
    "DeviceAuth",
    "DeviceDirectory",
    "IngestLimits",
    "IngestPipeline",
    "IngestResult",
    "Part",
    "RecordSink",
    "Rejection",
    "StorageUnavailable",
    "Submission",
]
