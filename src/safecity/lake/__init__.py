"""The record lake: partitioned Parquet writer, compaction, retention and query access."""

from safecity.lake.compaction import CompactionReport, LakeIntegrityError, SortedFormat
from safecity.lake.lake import Lake, PartitionInfo, kinds_of_subject
from safecity.lake.staging import Recovery

__all__ = [
    "CompactionReport",
    "Lake",
    "LakeIntegrityError",
    "PartitionInfo",
    "Recovery",
    "SortedFormat",
    "kinds_of_subject",
]
