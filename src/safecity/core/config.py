"""Settings sections: how a capability declares its own settings without editing `safecity.settings`.

A capability defines a `Section` subclass in its own package (fields with defaults and a
description each) and lists `SettingsSection(name, model)` among its extensions. The composition
root's `Settings` reads every installed section with the core fields, from the same SAFECITY_*
environment variables (SAFECITY_ + the field name in upper case, so a field is named after the
variable it is set by), and hands it out by type: `settings.section(IngestSettings)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SAFECITY_"


class Section(BaseSettings):
    """One capability's settings; environment variable = SAFECITY_ + the field name in upper case."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class SettingsSection:
    """An extension: a capability's settings section (its name is how documentation groups it)."""

    name: str
    model: type[Section]


__all__ = ["ENV_PREFIX", "Section", "SettingsSection"]
