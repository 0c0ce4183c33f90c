"""Settings of the workbench: which engine runs the analyses, how fresh search is."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from safecity.core.config import Section, SettingsSection
from safecity.workbench.engine import EngineKind


class WorkbenchSettings(Section):
    """Workbench; SAFECITY_ + the field name in upper case sets each."""

    analysis_engine: EngineKind = Field(
        EngineKind.DUCKDB,
        description=(
            "Where collision, companions and the other analyses run: duckdb (in process, over the "
            "local lake) or spark (needs the safecity[spark] extra and Java 17)."
        ),
    )
    catalogue_file: Path | None = Field(
        None,
        description=(
            "A catalogue file extending the packaged taxonomy and source descriptions (docs/workbench.md)."
        ),
    )
    search_sync_interval_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="How often the search index is brought in step with the registries (seconds).",
    )
    spark_master: str = Field(
        "local[2]",
        max_length=200,
        description="The Spark master URL when analysis_engine is spark (spark://host:7077 for a cluster).",
    )


SECTION = SettingsSection("workbench", WorkbenchSettings)

__all__ = ["SECTION", "WorkbenchSettings"]
