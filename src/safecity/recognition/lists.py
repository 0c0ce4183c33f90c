"""The checkpoint hit policy: per vehicle list, whether a hit alerts or is only logged, its priority,
how far a misreading may be from the listed plate, and the warning's severity and title.

Read from `checkpoint_lists.yaml` (packaged; an operator's copy in the data folder or named by
`SAFECITY_RECOGNITION_LISTS_FILE` wins), checked whole so that every mistake is named with where
it is, the way the rules file is.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safecity.core.configfile import ConfigFileError, in_force, load_file, parse_mapping, where
from safecity.registry import PLATE_LISTS

PACKAGED = Path(__file__).with_name("checkpoint_lists.yaml")
LOCAL_NAME = "checkpoint_lists.yaml"


class ListsFileError(ConfigFileError):
    """The checkpoint lists file is wrong."""

    what = "checkpoint lists file"


class HitAction(StrEnum):
    """What a hit on a list does."""

    ALERT = "alert"  # a warning routed to the camera's station, and the checkpoint view
    LOG = "log"  # the checkpoint view and the record only


class ListPolicy(BaseModel):
    """How hits on one vehicle list are handled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: HitAction
    priority: int = Field(ge=1, le=4, description="1 (stop now) to 4 (note).")
    max_distance: float = Field(ge=0, le=3, description="Weighted edits a read may be from the plate.")
    severity: str = Field("medium", pattern="^(low|medium|high|critical)$")
    title: str = Field(min_length=1, max_length=200)


class ListsFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(1, ge=1, le=1)
    lists: dict[str, ListPolicy]


def parse_lists(text: str, *, source: str) -> dict[str, ListPolicy]:
    """The policies in a file's text; raise ListsFileError naming every problem."""
    raw = parse_mapping(text, source=source, error=ListsFileError, shape="`version` and `lists`")
    try:
        parsed = ListsFile.model_validate(raw)
    except ValidationError as exc:
        raise ListsFileError(source, [where(e) for e in exc.errors()]) from exc
    problems = [
        f"lists.{name}: not a vehicle list (one of {', '.join(sorted(PLATE_LISTS))})"
        for name in parsed.lists
        if name not in PLATE_LISTS
    ]
    problems += [f"lists: {name} has no policy" for name in sorted(PLATE_LISTS - set(parsed.lists))]
    if problems:
        raise ListsFileError(source, problems)
    return parsed.lists


def load_lists(configured: Path | None, data_dir: Path) -> dict[str, ListPolicy]:
    """The policies in force (the configured file, a local copy, else the packaged one)."""
    return load_file(in_force(configured, data_dir / LOCAL_NAME, PACKAGED), parse_lists, error=ListsFileError)


__all__ = ["PACKAGED", "HitAction", "ListPolicy", "ListsFileError", "load_lists", "parse_lists"]
