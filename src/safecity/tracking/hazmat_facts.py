"""What the hazmat rules know of the registry (`facts.source("hazmat")`): the shipments under way
with their routes and windows, the restricted zones and permitted stop places compiled for the
geometry kernels, deliveries and stock counts, and which area holds a point.

Loaded once and again after `RegistryChanged("hazmat")` (or "areas"). A shipment is watched while
it is loaded or in transit; its tracker's `tracker_fix` records (the `device` column is the
tracker the terminal is bound to) are picked out of each batch once and shared by the rules.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.finding import Evidence
from safecity.registry.area_import import AreaLocator
from safecity.tracking.geofence import SafeZones, Zone
from safecity.tracking.hazmat_models import (
    HazmatProduct,
    HazmatSite,
    HazmatZone,
    Shipment,
    ShipmentStatus,
    StockCount,
    ZoneKind,
)
from safecity.tracking.hazmat_registry import HAZMAT
from safecity.tracking.hazmat_schemas import zone_of
from safecity.tracking.shipments import ACTIVE

NAME = "hazmat"  # the fact source's name
FIX = "tracker_fix"


@dataclass(frozen=True, slots=True)
class NamedZone:
    """A registered zone with what a warning says of it."""

    id: int
    name: str
    category: str
    area_id: str
    zone: Zone


@dataclass(slots=True)
class HazmatView:
    """One load of the hazmat facts; rules follow a new one by identity."""

    shipments: list[dict[str, Any]]  # watched shipments, one row each (the rules' row numbers)
    routes: list[tuple[tuple[float, float], ...]]  # each watched shipment's planned route
    restricted: list[NamedZone]
    permitted: SafeZones | None  # one subject holding every permitted stop place
    restricted_all: SafeZones | None  # one subject holding every restricted zone
    restricted_each: SafeZones | None  # one subject per restricted zone (which one was entered)
    deliveries: list[dict[str, Any]]
    counts: list[dict[str, Any]]
    locator: AreaLocator
    row_of_device: dict[str, int] = field(default_factory=dict)

    def area_at(self, lat: float | None, lon: float | None, fallback: str | None) -> str | None:
        """The area holding a point (routes the warning to its station), else `fallback`."""
        if lat is None or lon is None:
            return fallback
        return self.locator.area_at(lat, lon) or fallback


class HazmatFacts:
    """The hazmat registry as the rules read it, cached until hazmat facts or areas change."""

    depends_on = frozenset({HAZMAT, "areas"})

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._lock = threading.Lock()
        self._view: HazmatView | None = None
        self._batch: pl.DataFrame | None = None
        self._fixes: pl.DataFrame | None = None
        self._fixes_view: HazmatView | None = None

    def invalidate(self) -> None:
        """Forget the facts (a shipment, zone, site or count changed)."""
        with self._lock:
            self._view = None

    def view(self) -> HazmatView:
        """The current facts, loaded if need be."""
        with self._lock:
            if self._view is None:
                self._view = _load(self._factory)
            return self._view

    def fixes(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, HazmatView]:
        """The batch's fixes of watched shipments' trackers, with `row` (the shipment's) and
        `speed_kmh`, by shipment then time; computed once per batch for every rule, and handed
        out with the view its rows number (a reload mid-batch must not renumber them)."""
        with self._lock:
            if self._batch is batch and self._fixes is not None and self._fixes_view is not None:
                return self._fixes, self._fixes_view
        view = self.view()
        devices = pl.DataFrame(
            {"device": list(view.row_of_device), "row": list(view.row_of_device.values())},
            schema={"device": pl.String, "row": pl.Int64},
        )
        fixes = (
            batch.filter(pl.col("kind") == FIX)
            .join(devices, on="device", how="inner")
            .with_columns(
                speed_kmh=pl.col("attrs").str.json_path_match("$.speed_kmh").cast(pl.Float64, strict=False),
                ts_ms=pl.col("ts").dt.epoch("ms"),
            )
            .sort("row", "ts")
        )
        with self._lock:
            self._batch, self._fixes, self._fixes_view = batch, fixes, view
        return fixes, view


def fix_evidence(row: dict[str, Any], view: HazmatView, shipment: dict[str, Any]) -> Evidence:
    """A fix as evidence, placed in the area that holds it (else the shipment's)."""
    return Evidence(
        event_id=row["event_id"],
        corr_id=row["corr_id"],
        kind=row["kind"],
        subject=row["subject"],
        device=row["device"],
        ts=row["ts"],
        lat=row["lat"],
        lon=row["lon"],
        area=view.area_at(row["lat"], row["lon"], shipment["area_id"]),
        code=row.get("code"),
    )


def record_evidence(key: str, subject: str, at: datetime, area: str | None, code: str) -> Evidence:
    """Registry facts as evidence (a delivery, a count): no fix to show, the record is the proof."""
    return Evidence(
        event_id=key, corr_id=key, kind="report", subject=subject, device="registry", ts=at,
        lat=None, lon=None, area=area, code=code,
    )  # fmt: skip


def _load(factory: sessionmaker[Session]) -> HazmatView:
    with factory() as session:
        watched = session.scalars(
            select(Shipment).where(Shipment.status.in_(ACTIVE)).order_by(Shipment.id)
        ).all()
        shipments = [_shipment_row(s) for s in watched]
        routes = [tuple((float(p[0]), float(p[1])) for p in s.route) for s in watched]
        zones = session.scalars(select(HazmatZone).order_by(HazmatZone.id)).all()
        restricted = [
            NamedZone(z.id, z.name, z.category, z.area_id, zone_of(z.geometry, ZoneKind.RESTRICTED))
            for z in zones
            if z.kind == ZoneKind.RESTRICTED
        ]
        permitted = [
            zone_of(z.geometry, ZoneKind.PERMITTED_STOP) for z in zones if z.kind == ZoneKind.PERMITTED_STOP
        ]
        deliveries = _deliveries(session)
        counts = _counts(session)
        locator = AreaLocator.of(session)
    # One device watched once: the load use case refuses a tracker already on a shipment under way.
    rows = {s["device"]: i for i, s in enumerate(shipments)}
    return HazmatView(
        shipments=shipments,
        routes=routes,
        restricted=restricted,
        permitted=SafeZones([permitted]) if permitted else None,
        restricted_all=SafeZones([[z.zone for z in restricted]]) if restricted else None,
        restricted_each=SafeZones([[z.zone] for z in restricted]) if restricted else None,
        deliveries=deliveries,
        counts=counts,
        locator=locator,
        row_of_device=rows,
    )


def _shipment_row(s: Shipment) -> dict[str, Any]:
    return {
        "shipment_id": s.id,
        "device": s.device_id,
        "un_number": s.un_number,
        "hazard_class": s.hazard_class,
        "quantity_kg": s.quantity_kg,
        "loaded_kg": s.loaded_kg,
        "plate": s.plate,
        "carrier": s.carrier,
        "area_id": s.area_id,
        "status": s.status,
        "depart_from": s.depart_from,
        "arrive_until": s.arrive_until,
        "departed_at": s.departed_at,
        "loaded_at": s.loaded_at,
        "consignor_site_id": s.consignor_site_id,
        "consignee_site_id": s.consignee_site_id,
    }


def _deliveries(session: Session) -> list[dict[str, Any]]:
    """Delivered (or closed) shipments with both quantities, and the consignee's area."""
    rows = session.execute(
        select(Shipment, HazmatSite.area_id)
        .join(HazmatSite, HazmatSite.id == Shipment.consignee_site_id)
        .where(
            Shipment.status.in_((ShipmentStatus.DELIVERED.value, ShipmentStatus.CLOSED.value)),
            Shipment.loaded_kg.is_not(None),
            Shipment.delivered_kg.is_not(None),
        )
    ).all()
    return [
        {
            **_shipment_row(s),
            "consignee_area_id": area,
            "delivered_kg": s.delivered_kg,
            "delivered_at": s.delivered_at,
        }
        for s, area in rows
    ]


def _counts(session: Session) -> list[dict[str, Any]]:
    """The latest count of each site's product, with the site's area and the UN number."""
    latest = (
        select(func.max(StockCount.id)).group_by(StockCount.site_id, StockCount.product_id).scalar_subquery()
    )
    rows = session.execute(
        select(StockCount, HazmatSite.area_id, HazmatSite.name, HazmatProduct.un_number)
        .join(HazmatSite, HazmatSite.id == StockCount.site_id)
        .join(HazmatProduct, HazmatProduct.id == StockCount.product_id)
        .where(StockCount.id.in_(latest))
    ).all()
    return [
        {
            "count_id": c.id,
            "site_id": c.site_id,
            "site": name,
            "product_id": c.product_id,
            "un_number": un,
            "declared_kg": c.declared_kg,
            "ledger_kg": c.ledger_kg,
            "counted_at": c.counted_at,
            "area_id": area,
        }
        for c, area, name, un in rows
    ]


def epoch_ms(at: datetime | None) -> int | None:
    """Milliseconds since the epoch (naive times from SQLite are UTC)."""
    if at is None:
        return None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


def rows_of(fixes: pl.DataFrame) -> np.ndarray:
    """The shipment row of each fix, as integers."""
    return fixes["row"].to_numpy().astype(np.int64)


__all__ = [
    "NAME",
    "HazmatFacts",
    "HazmatView",
    "NamedZone",
    "epoch_ms",
    "fix_evidence",
    "record_evidence",
    "rows_of",
]
