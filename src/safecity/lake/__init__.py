"""The record lake: partitioned Parquet writer, compaction, retention and query access."""

from safecity.lake.compaction import CompactionReport, LakeIntegrityError, SortedFormat
from safecity.lake.lake import Lake, PartitionInfo, kinds_of_subject

__all__ = [
    "CompactionReport",
    "Lake",
    "LakeIntegrityError",
    "PartitionInfo",
    "SortedFormat",
    "kinds_of_subject",
]
