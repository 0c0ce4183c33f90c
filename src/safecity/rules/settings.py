"""Rules: which rules file is in force and how records are batched for evaluation."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from safecity.core.config import Section, SettingsSection


class RulesSettings(Section):
    """The rules' settings; SAFECITY_ + the field name in upper case sets each."""

    rules_file: Path | None = Field(
        None, description="Rules YAML; empty means <data_dir>/rules.yaml, else the packaged defaults."
    )
    rules_flush_ms: int = Field(
        50, ge=1, le=1000, description="Longest wait before a micro-batch is evaluated."
    )
    rules_flush_rows: int = Field(
        50_000, ge=1, description="Micro-batch size that triggers evaluation at once."
    )


SECTION = SettingsSection("rules", RulesSettings)

__all__ = ["SECTION", "RulesSettings"]
