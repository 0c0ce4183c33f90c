"""Settings of the command centre: which road network units drive on."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from safecity.core.config import Section, SettingsSection


class DispatchSettings(Section):
    """Dispatch; SAFECITY_ + the field name in upper case sets each."""

    dispatch_road_network: Path | None = Field(
        None,
        description=(
            "The road network: an OpenStreetMap file (.osm.pbf, .osm) or a road file the city "
            "generator wrote (.npz). Unset: the generated city's (data dir/city/roads.npz)."
        ),
    )
    dispatch_max_snap_m: float = Field(
        300.0, gt=0, le=5000, description="A place further than this from any road is refused."
    )

    dispatch_coverage_target: float = Field(
        0.8,
        gt=0,
        le=1,
        description="A district reaching less of its past incidents within 5 minutes is a gap.",
    )


SECTION = SettingsSection("dispatch", DispatchSettings)

__all__ = ["SECTION", "DispatchSettings"]
