"""Device health of door controllers: online, usage and swipe rates per compound, community, station area
and district, computed from the registry and the lake, with the doors that drag each figure down.

* online rate: doors heard from (any record: heartbeat, swipe, alarm) within the last N minutes,
  measured now on arrival time, as the `device_offline` rule measures silence;
* usage rate: doors with at least one swipe (granted or denied) on the local day asked for;
* swipe rate: openings by a granted swipe over all openings that day, where openings are
  granted swipes plus `door_opened_no_swipe` and `door_forced` alarms (the shared contract).

A door also drags when it is out of step: its newest swipe of the day reported a list version
(`attrs.wl_version`) below the server's, made more than the online minutes before that swipe
(the rule `door_whitelist_behind` warns of the same, places/rules/lag.py).

The seed's city keeps all three above 90 %. Only active door controllers count; a door's place
is its compound (directly, through its building) or its shop's community, else the area its
device was registered in. Work is two lazy scans of the lake grouped by device, then joins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder
from safecity.core.context import Context
from safecity.core.kinds import RecordKind
from safecity.lake import Lake
from safecity.places.errors import PlacesError
from safecity.places.health_schemas import TARGET, DraggingDoorOut, HealthOut, HealthRowOut, Level
from safecity.places.models import Building, Compound, Door, DoorWhitelist, Shop
from safecity.places.schedule import LOCAL_TZ

DOOR_CONTROLLER = "door_controller"
UNSWIPED_CODES = ("door_opened_no_swipe", "door_forced")
FIRST_DAY = date(1970, 1, 1)  # no door reported before; earlier days are an error, not an empty table
LOOKBACK = timedelta(hours=2)  # how far back an offline door's last record is looked for
MAX_DRAGGING = 200
NONE = "-"  # the key of doors with no compound (or no area at that level)
REASONS = ("offline", "unused", "unswiped", "out_of_step")


class DeviceHealth:
    """The device-health figures of one platform."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        lake: Lake,
        areas: Callable[[], Sequence[Any]],
        *,
        now: Callable[[], datetime],
        online_minutes: float,
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._lake = lake
        self._areas = areas
        self._now = now
        self.online_minutes = online_minutes

    def figures(
        self,
        ctx: Context,
        *,
        level: Level,
        day: date | None = None,
        area_id: str | None = None,
        resource: str,
    ) -> HealthOut:
        """The three rates per place of `level`, of the doors the caller reaches (within `area_id`)."""
        if area_id is not None:
            ctx.require_area(area_id, what=f"area {area_id}")
        now = self._now()
        today = now.astimezone(LOCAL_TZ).date()
        day = day or today
        if not FIRST_DAY <= day <= today + timedelta(days=1):
            raise PlacesError(f"day must be between {FIRST_DAY} and tomorrow ({day} is not)", field="day")
        doors = self._doors(ctx, area_id)
        measured = doors.join(self._day_counts(doors, day), on="device", how="left").join(
            self._heard(doors, now), on="device", how="left"
        )
        measured = measured.with_columns(
            pl.col("swipes", "by_swipe", "unswiped").fill_null(0),
            online=pl.col("last_seen").is_not_null()
            & (pl.col("last_seen") >= now - timedelta(minutes=self.online_minutes)),
        ).with_columns(openings=pl.col("by_swipe") + pl.col("unswiped"), used=pl.col("swipes") > 0)
        keyed = measured.with_columns(
            key=pl.col(level.value).fill_null(NONE), name=pl.col(f"{level.value}_name")
        )
        if level is Level.COMPOUND:
            keyed = keyed.filter(pl.col("key") != NONE)
        rows = _rows(keyed.group_by("key").agg(pl.col("name").first(), *_sums()))
        total = _rows(keyed.select(pl.lit("*").alias("key"), pl.lit("all").alias("name"), *_sums()))
        dragging = _dragging(keyed, timedelta(minutes=self.online_minutes))
        out = HealthOut(
            level=level,
            day=day,
            at=now,
            online_minutes=self.online_minutes,
            target=TARGET,
            total=total[0],
            rows=sorted(rows, key=_worst_first),
            dragging=dragging[:MAX_DRAGGING],
            dragging_total=len({d.device for d in dragging}),
        )
        self._recorder.record(
            ctx,
            AuditEntry(
                "health.read",
                resource,
                result_count=len(out.rows),
                detail={"level": level.value, "day": day.isoformat(), "area": area_id},
            ),
        )
        return out

    # --- where each door is -----------------------------------------------------------------------

    def _doors(self, ctx: Context, area_id: str | None) -> pl.DataFrame:
        """Active door controllers with their compound, community, station and district (and names)."""
        with self._sessions() as session:
            devices = registry.device_directory(session).filter(
                (pl.col("device_kind") == DOOR_CONTROLLER) & pl.col("active")
            )
            placed = _placed_doors(session).join(_versions(session), on="device", how="left")
        areas = _area_levels(self._areas())
        doors = (
            devices.select("device", pl.col("area").alias("device_area"))
            .join(placed, on="device", how="left")
            .with_columns(area=pl.coalesce("compound_community", "shop_community", "device_area"))
            .join(areas, on="area", how="left")
        )
        if not ctx.city_wide:
            reach = sorted(ctx.areas)
            doors = doors.filter(
                pl.any_horizontal(
                    pl.col(c).is_in(reach) for c in ("area", "community", "station", "district")
                )
            )
        if area_id is not None:
            cols = ("area", "community", "station", "district")
            doors = doors.filter(pl.any_horizontal(pl.col(c) == area_id for c in cols))
        return doors

    # --- what the lake says -----------------------------------------------------------------------

    def _day_counts(self, doors: pl.DataFrame, day: date) -> pl.DataFrame:
        """Per door: swipes, openings by swipe, openings without one, on the local day."""
        start = datetime.combine(day, time(), tzinfo=LOCAL_TZ).astimezone(UTC)
        kind, code = pl.col("kind"), pl.col("code")
        swipe = kind == RecordKind.DOOR_SWIPE.value
        return (
            self._lake.scan(start=start, end=start + timedelta(days=1), kinds=["door_swipe", "alarm"])
            .filter(pl.col("device").is_in(doors["device"].implode()))
            .group_by("device")
            .agg(
                swipes=swipe.sum().cast(pl.Int64),
                by_swipe=(swipe & (code == "granted")).sum().cast(pl.Int64),
                unswiped=((kind == RecordKind.ALARM.value) & code.is_in(UNSWIPED_CODES)).sum().cast(pl.Int64),
                last_swipe_at=pl.col("ts").filter(swipe).max(),
                held=pl.col("attrs").filter(swipe).sort_by(pl.col("ts").filter(swipe)).last(),
            )
            .with_columns(
                held=pl.col("held").str.json_path_match("$.wl_version").cast(pl.Int64, strict=False)
            )
            .collect()
        )

    def _heard(self, doors: pl.DataFrame, now: datetime) -> pl.DataFrame:
        """Per door heard from in the lookback: its newest record's arrival."""
        # Event times bound the scan (the lake is partitioned by them); arrival decides online.
        return (
            self._lake.scan(start=now - LOOKBACK, end=now + timedelta(minutes=5))
            .filter(pl.col("device").is_in(doors["device"].implode()))
            .group_by("device")
            .agg(last_seen=pl.col("received_at").max())
            .collect()
        )


def _placed_doors(session: Session) -> pl.DataFrame:
    """Door -> compound (directly or through its building) and the community of its compound or shop."""
    compound_id = func.coalesce(Door.compound_id, Building.compound_id)
    rows = session.execute(
        select(Door.device_id, compound_id, Compound.name, Compound.community_id, Shop.community_id)
        .outerjoin(Building, Door.building_id == Building.id)
        .outerjoin(Compound, Compound.id == compound_id)
        .outerjoin(Shop, Door.shop_id == Shop.id)
    ).all()
    schema = ["device", "compound", "compound_name", "compound_community", "shop_community"]
    return pl.DataFrame([tuple(r) for r in rows], schema=dict.fromkeys(schema, pl.String()), orient="row")


def _versions(session: Session) -> pl.DataFrame:
    """Each door's current list version and when the server made it."""
    rows = session.execute(select(DoorWhitelist.device_id, DoorWhitelist.version, DoorWhitelist.changed_at))
    schema = {"device": pl.String(), "version": pl.Int64(), "changed_at": pl.Datetime("ms", "UTC")}
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def _area_levels(areas: Sequence[Any]) -> pl.DataFrame:
    """Each area with the community, station and district it lies in (itself included) and their names."""
    by_id = {a.id: a for a in areas}
    rows = []
    for area in areas:
        found: dict[str, str | None] = {"community": None, "station": None, "district": None}
        seen: set[str] = set()
        current = area
        while current is not None and current.id not in seen:
            seen.add(current.id)
            if current.kind in found and found[current.kind] is None:
                found[current.kind] = current.id
            current = by_id.get(current.parent_id) if current.parent_id else None
        names = {f"{k}_name": by_id[v].name if v else None for k, v in found.items()}
        rows.append({"area": area.id, **found, **names})
    cols = ["area", "community", "station", "district", "community_name", "station_name", "district_name"]
    return pl.DataFrame(rows, schema=dict.fromkeys(cols, pl.String()))


# --- figures ------------------------------------------------------------------------------------------


def _sums() -> list[pl.Expr]:
    return [
        pl.len().alias("doors"),
        pl.col("online").sum().alias("online"),
        pl.col("used").sum().alias("used"),
        pl.col("openings").sum().alias("openings"),
        pl.col("by_swipe").sum().alias("by_swipe"),
    ]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _rows(frame: pl.DataFrame) -> list[HealthRowOut]:
    return [
        HealthRowOut(
            key=r["key"],
            name=r["name"] or r["key"],
            doors=r["doors"],
            online=r["online"],
            used=r["used"],
            openings=r["openings"],
            by_swipe=r["by_swipe"],
            online_rate=_rate(r["online"], r["doors"]),
            usage_rate=_rate(r["used"], r["doors"]),
            swipe_rate=_rate(r["by_swipe"], r["openings"]),
        )
        for r in frame.iter_rows(named=True)
    ]


def _worst_first(row: HealthRowOut) -> tuple[float, str]:
    rates = [r for r in (row.online_rate, row.usage_rate, row.swipe_rate) if r is not None]
    return (min(rates) if rates else 1.0, row.key)


def _dragging(doors: pl.DataFrame, grace: timedelta) -> list[DraggingDoorOut]:
    """One entry per door and figure it pulls down, offline first, then by place and device."""
    low_swipe = (pl.col("openings") > 0) & (pl.col("by_swipe") < TARGET * pl.col("openings"))
    # Behind since at most the current version's making, so this never names a door in step.
    behind = (pl.col("held") < pl.col("version")) & (pl.col("last_swipe_at") - pl.col("changed_at") > grace)
    reasons = {
        "offline": ~pl.col("online"),
        "unused": ~pl.col("used"),
        "unswiped": low_swipe,
        "out_of_step": behind.fill_null(False),
    }
    parts = [doors.filter(test).with_columns(reason=pl.lit(reason)) for reason, test in reasons.items()]
    found = pl.concat(parts).with_columns(
        order=pl.col("reason").replace_strict(list(REASONS), list(range(len(REASONS))))
    )
    return [
        DraggingDoorOut(
            device=r["device"],
            key=r["key"],
            name=r["name"] or r["key"],
            reason=r["reason"],
            openings=r["openings"],
            by_swipe=r["by_swipe"],
            last_seen=r["last_seen"],
        )
        for r in found.sort("order", "key", "device").iter_rows(named=True)
    ]


def build_health(platform: Any) -> DeviceHealth:
    """The device-health figures on a platform's parts (core.capabilities.Service)."""
    from safecity.places.shop_settings import ShopSettings

    section = platform.settings.section(ShopSettings)
    return DeviceHealth(
        platform.session_factory,
        platform.security,
        platform.lake,
        platform.registry.areas,
        now=platform.clock.now,
        online_minutes=section.device_online_minutes,
    )


__all__ = ["DeviceHealth", "Level", "build_health"]
