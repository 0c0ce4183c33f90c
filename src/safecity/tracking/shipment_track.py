"""What the shipment page reads beside the shipment itself: the tanker's fixes and the chain's ledger.

The fixes are the `tracker_fix` records of the shipment's tracker (under its device id and the
JT/T 808 terminal bound to it, as the lake's path query reads them by subject) from the loading
until the delivery (or now): before it is loaded the vehicle carries nothing of this shipment, and
after delivery what it does is no longer this shipment's. The ledger is the shipment's own stock
movements (the dispatch at the consignor, the receipt at the consignee) with both sites and the
product. Both reads are in the reach of either end's area, as the shipment is, and audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, Recorder
from safecity.core.context import Context
from safecity.tracking.fixes import read_fixes, thin_rows
from safecity.tracking.hazmat_errors import HazmatError
from safecity.tracking.hazmat_models import HazmatProduct, HazmatSite, Shipment, StockMovement
from safecity.tracking.hazmat_schemas import MovementOut, ProductOut, SiteOut
from safecity.tracking.shipments import shipment_in_reach
from safecity.tracking.stock import movement_out

MAX_WINDOW = timedelta(days=7)  # a week at a time: far past a day's drive across the province
MAX_FIXES = 5_000
PURPOSE = "dangerous goods transport supervision"


class ShipmentFixOut(BaseModel):
    """One position of the shipment's vehicle."""

    ts: datetime
    lat: float
    lon: float
    speed_kmh: float | None = Field(None, description="The terminal's own speed, when it sent one.")


class ShipmentTrackOut(BaseModel):
    """The vehicle's fixes while it carries the shipment, for the map and its time slider."""

    shipment_id: int
    start: datetime
    end: datetime
    fixes: list[ShipmentFixOut] = Field(description="Oldest first.")
    truncated: bool = Field(description="Thinned to at most 5,000 points, evenly, the last always kept.")


class ShipmentLedgerOut(BaseModel):
    """The registry facts of a shipment: its product, both sites and its own stock movements."""

    shipment_id: int
    product: ProductOut
    consignor: SiteOut
    consignee: SiteOut
    movements: list[MovementOut] = Field(description="Oldest first: the dispatch, then the receipt.")


def _speed(attrs: str | None) -> float | None:
    if not attrs:
        return None
    try:
        value = json.loads(attrs).get("speed_kmh")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _site_out(site: HazmatSite) -> SiteOut:
    return SiteOut(**{name: getattr(site, name) for name in SiteOut.model_fields})


class ShipmentTracks:
    """Reading a shipment's fixes and ledger for the console: in reach, audited."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        *,
        now: Callable[[], datetime],
        path: Callable[..., pl.DataFrame],
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now
        self._path = path

    def fixes(
        self, ctx: Context, shipment_id: int, *, start: datetime | None = None, resource: str
    ) -> ShipmentTrackOut:
        """The fixes from the loading (or `start`, if later) to the delivery or now, oldest first.

        A window longer than a week keeps its last week; a shipment not loaded yet has none.
        """
        with self._sessions() as session:
            shipment: Shipment = shipment_in_reach(session, ctx, shipment_id)
            device, loaded_at, delivered_at = shipment.device_id, shipment.loaded_at, shipment.delivered_at
            end = delivered_at or self._now()
            begin = loaded_at or end
            if start is not None:
                if start > end:
                    raise HazmatError("start must not be after the shipment's end", field="start")
                begin = max(begin, start)
            begin = max(begin, end - MAX_WINDOW)
            frame = pl.DataFrame()
            if begin < end:
                # `end` itself is a fix of the shipment (the delivery's moment, or now): read past it.
                frame = read_fixes(
                    session,
                    self._path,
                    [device],
                    start=begin,
                    end=end + timedelta(microseconds=1),
                    terminals=[shipment.terminal],
                )
        total = frame.height
        keep, thinned = thin_rows(total, MAX_FIXES)
        kept = frame[keep] if thinned else frame
        fixes = [
            ShipmentFixOut(ts=row["ts"], lat=row["lat"], lon=row["lon"], speed_kmh=_speed(row["attrs"]))
            for row in kept.iter_rows(named=True)
        ]
        detail = {"shipment": shipment_id, "start": begin.isoformat(), "end": end.isoformat()}
        entry = AuditEntry(
            "hazmat.shipment_fixes", resource, purpose=PURPOSE, result_count=total, detail=detail
        )
        self._recorder.record(ctx, entry)
        return ShipmentTrackOut(shipment_id=shipment_id, start=begin, end=end, fixes=fixes, truncated=thinned)

    def ledger(self, ctx: Context, shipment_id: int, *, resource: str) -> ShipmentLedgerOut:
        """The shipment's product, consignor and consignee, and its own stock movements."""
        with self._sessions() as session:
            shipment: Shipment = shipment_in_reach(session, ctx, shipment_id)
            product = session.get(HazmatProduct, shipment.product_id)
            consignor = session.get(HazmatSite, shipment.consignor_site_id)
            consignee = session.get(HazmatSite, shipment.consignee_site_id)
            # Foreign keys: each is there.
            assert product is not None
            assert consignor is not None
            assert consignee is not None
            lines = session.execute(
                select(StockMovement)
                .where(StockMovement.shipment_id == shipment_id)
                .order_by(StockMovement.id)
            ).scalars()
            out = ShipmentLedgerOut(
                shipment_id=shipment_id,
                product=ProductOut(**{name: getattr(product, name) for name in ProductOut.model_fields}),
                consignor=_site_out(consignor),
                consignee=_site_out(consignee),
                movements=[movement_out(line, product.un_number) for line in lines],
            )
        entry = AuditEntry(
            "hazmat.shipment_ledger_read",
            resource,
            result_count=len(out.movements),
            detail={"shipment": shipment_id},
        )
        self._recorder.record(ctx, entry)
        return out


def build_shipment_tracks(platform: Any) -> ShipmentTracks:
    """The shipment-track use case on a platform's parts (core.capabilities.Service)."""
    return ShipmentTracks(
        platform.session_factory, platform.security, now=platform.clock.now, path=platform.lake.path
    )


__all__ = [
    "ShipmentFixOut",
    "ShipmentLedgerOut",
    "ShipmentTrackOut",
    "ShipmentTracks",
    "build_shipment_tracks",
]
