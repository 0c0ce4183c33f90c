"""Ingest adapters: one module per transport (http, mqtt, replay), behind the contract in `base`."""

from safecity.ingest.adapters.base import DeviceLink, DeviceUnreachable, Intake
from safecity.ingest.adapters.link import DeviceLinks
from safecity.ingest.pipeline import DecodedPart, IngestResult, Part, StorageUnavailable, Submission

__all__ = [
    "DecodedPart",
    "DeviceLink",
    "DeviceLinks",
    "DeviceUnreachable",
    "Intake",
    "IngestResult",
    "Part",
    "StorageUnavailable",
    "Submission",
]
