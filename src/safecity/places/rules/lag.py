"""`door_whitelist_behind`: a door controller whose whitelist stays behind the server's for too long.

Every swipe report carries the list version the controller decided on (`attrs.wl_version`,
docs/doors.md section 5). A controller in step follows a new version within seconds (MQTT) or a
minute (polling); one still reporting an older version `minutes` after the server made the next
is out of step (a lost delta it never noticed, a digest it cannot match, a broken poll) and lets
in or refuses people by an old list. Judged at each report's own time against when the server
made the version after the held one (places/versions.py), so a late report counts by then.

Reports sent after an outage (`attrs.buffered`) are left out by default: the door was offline,
which the `device_offline` rule already warns about. One open warning per door; a door that
reports an in-step version again starts afresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding
from safecity.core.kinds import RecordKind
from safecity.places.rules.common import HousingRule, evidence, first, place_refs
from safecity.places.versions import NAME, DoorVersions
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams

KEEP_REPORTS = 50  # per door behind: the evidence a warning shows


class WhitelistBehindParams(RuleParams):
    """A door controller reporting an old whitelist version for too long."""

    minutes: float = Field(15, gt=0, le=7 * 24 * 60, description="How long behind before a warning.")
    include_buffered: bool = Field(
        False, description="Count reports sent after an outage (the offline rule covers those doors)."
    )


class WhitelistBehindRule(HousingRule):
    """Swipe reports joined to the server's versions; a warning per door stuck behind."""

    kind = "door_whitelist_behind"
    default_title = "Door controller's whitelist out of step"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: WhitelistBehindParams = config.typed_params()
        self._grace = timedelta(minutes=self.params.minutes)
        self._behind: dict[str, pl.DataFrame] = {}  # device -> its reports while behind, newest last

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Find reports of old versions; warn for doors behind longer than the grace."""
        reports = _reports(batch, include_buffered=self.params.include_buffered)
        if reports.is_empty():
            return []
        versions: DoorVersions = facts.source(NAME)
        behind = versions.behind(reports)
        self._forget_caught_up(reports, behind)
        if behind.is_empty():
            return []
        stale = behind.filter(pl.col("ts") - pl.col("behind_since") > self._grace)
        for (device,), rows in behind.group_by("device"):
            kept = self._behind.get(str(device))
            rows = rows if kept is None else pl.concat([kept, rows], how="vertical_relaxed")
            self._behind[str(device)] = rows.unique("event_id", keep="first").sort("ts").tail(KEEP_REPORTS)
        return [self._finding(str(device), now) for device in stale["device"].unique().sort().to_list()]

    def _forget_caught_up(self, reports: pl.DataFrame, behind: pl.DataFrame) -> None:
        """Doors whose newest report of the batch is in step have caught up: their episode ends."""
        newest = reports.sort("ts").group_by("device").last().select("device", "event_id")
        in_step = newest.join(behind.select("event_id"), on="event_id", how="anti")["device"]
        for device in in_step.to_list():
            self._behind.pop(str(device), None)

    def _finding(self, device: str, now: datetime) -> Finding:
        rows = self._behind[device]
        last = rows.row(rows.height - 1, named=True)
        since: datetime = rows["behind_since"].min()  # type: ignore[assignment]
        return self.finding(
            subject_kind="device",
            subject=device,
            dedup_key=f"whitelist-behind:{device}",
            now=now,
            items=evidence(rows),
            facts={
                "door": device,
                "door_name": first(rows, "door_name"),
                "compound_id": first(rows, "compound_id"),
                "building_id": first(rows, "building_id"),
                "shop_id": first(rows, "shop_id"),
                "held_version": last["held_version"],
                "current_version": last["current_version"],
                "behind_since": since.isoformat(),
                "behind_minutes": round((last["ts"] - since).total_seconds() / 60, 1),
                "reports_behind": rows.height,
            },
            refs=place_refs(rows),
        )


def _reports(batch: pl.DataFrame, *, include_buffered: bool) -> pl.DataFrame:
    """The batch's swipe reports that name a list version, with it as `held_version`."""
    swipes = batch.filter((pl.col("kind") == RecordKind.DOOR_SWIPE.value) & pl.col("attrs").is_not_null())
    if swipes.is_empty():
        return swipes.with_columns(held_version=pl.lit(None, pl.Int64))
    attrs = pl.col("attrs")
    swipes = swipes.with_columns(
        held_version=attrs.str.json_path_match("$.wl_version").cast(pl.Int64, strict=False),
        _buffered=attrs.str.json_path_match("$.buffered").fill_null("false") == "true",
    )
    if not include_buffered:
        swipes = swipes.filter(~pl.col("_buffered"))
    return swipes.drop("_buffered").filter(pl.col("held_version").is_not_null())


WHITELIST_BEHIND = RuleKind(WhitelistBehindRule.kind, WhitelistBehindParams, WhitelistBehindRule)

__all__ = ["WHITELIST_BEHIND", "WhitelistBehindParams", "WhitelistBehindRule"]
