"""Prometheus metrics of the lake: rows and files appended, compaction work and time."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ROWS_APPENDED = Counter("safecity_lake_rows_appended_total", "Records durably appended to the lake.")
FILES_APPENDED = Counter("safecity_lake_files_appended_total", "Parquet parts written by appends.")
APPEND_SECONDS = Histogram(
    "safecity_lake_append_seconds",
    "Time to validate, split and durably write one appended batch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ROWS_COMPACTED = Counter("safecity_lake_rows_compacted_total", "Records rewritten into sorted files.")
COMPACTION_SECONDS = Histogram(
    "safecity_lake_compaction_seconds",
    "Duration of one compaction run over all partitions.",
    buckets=(0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
