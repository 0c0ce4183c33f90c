"""Hazardous-chemical tables: products, storage sites, the stock ledger, stock counts, shipments and
the zones a tanker must avoid or may stop in.

Quantities are kept in one canonical unit, kilograms (`*_kg`), whatever unit they were given in
(t, kg, or L through the product's density); the unit and quantity as declared are kept beside
them. Stock is never a column that is overwritten: it is the sum of the site's movements
(produced, received, dispatched, used, adjusted), so every kilogram can be traced.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime

# Entity names of typed references (core.finding.Ref) to rows of this module.
SHIPMENT = "hazmat_shipment"
SITE = "hazmat_site"
PRODUCT = "hazmat_product"
HAZMAT_ZONE = "hazmat_zone"


class MovementKind(StrEnum):
    """Why a site's stock of a product changed."""

    PRODUCED = "produced"  # made at the site: in
    RECEIVED = "received"  # a shipment delivered to the site: in
    DISPATCHED = "dispatched"  # a shipment loaded at the site: out
    USED = "used"  # consumed at the site: out
    ADJUSTED = "adjusted"  # a correction after a count, either sign


class ShipmentStatus(StrEnum):
    """Where a shipment is in its life."""

    PLANNED = "planned"
    LOADED = "loaded"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CLOSED = "closed"


class ZoneKind(StrEnum):
    """A place a tanker must not enter, or one where it may stop."""

    RESTRICTED = "restricted"  # schools, tunnels, crowded centres
    PERMITTED_STOP = "permitted_stop"  # depots, service areas


class HazmatProduct(Base):
    """A dangerous good by its UN number (UN 1203 petrol), hazard class and packing group."""

    __tablename__ = "hazmat_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    un_number: Mapped[str] = mapped_column(String(4), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    hazard_class: Mapped[str] = mapped_column(String(8))
    packing_group: Mapped[str | None] = mapped_column(String(3))
    density_kg_per_l: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HazmatSite(Base):
    """A licensed storage (or production) site in an area, and the products it may hold."""

    __tablename__ = "hazmat_sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    licence: Mapped[str] = mapped_column(String(64))
    permitted_un: Mapped[list[str]] = mapped_column(JSON)  # UN numbers it is licensed for
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StockMovement(Base):
    """One change of a site's stock of a product, signed (in positive, out negative), in kg."""

    __tablename__ = "hazmat_stock_movements"
    __table_args__ = (Index("ix_hazmat_stock_site_product", "site_id", "product_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("hazmat_sites.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("hazmat_products.id"))
    kind: Mapped[str] = mapped_column(String(16))
    quantity_kg: Mapped[float] = mapped_column(Float)
    quantity: Mapped[float] = mapped_column(Float)  # as declared, unsigned
    unit: Mapped[str] = mapped_column(String(4))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("hazmat_shipments.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256), default="")


class StockCount(Base):
    """A declared physical count of a site's product, beside what the ledger said at that moment."""

    __tablename__ = "hazmat_stock_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("hazmat_sites.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("hazmat_products.id"))
    declared_kg: Mapped[float] = mapped_column(Float)
    ledger_kg: Mapped[float] = mapped_column(Float)
    counted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    counted_by: Mapped[str] = mapped_column(String(64))


class Shipment(Base):
    """A consignment of one product by road, from a consignor site to a consignee site."""

    __tablename__ = "hazmat_shipments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("hazmat_products.id"))
    un_number: Mapped[str] = mapped_column(String(4))
    hazard_class: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[float] = mapped_column(Float)  # as planned, in `unit`
    unit: Mapped[str] = mapped_column(String(4))
    quantity_kg: Mapped[float] = mapped_column(Float)
    consignor_site_id: Mapped[int] = mapped_column(ForeignKey("hazmat_sites.id"))
    consignee_site_id: Mapped[int] = mapped_column(ForeignKey("hazmat_sites.id"))
    carrier: Mapped[str] = mapped_column(String(128))
    plate: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    terminal: Mapped[str] = mapped_column(String(32))
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id"), index=True)  # the consignor's area
    route: Mapped[list[Any]] = mapped_column(JSON)  # [[lon, lat], ...]
    depart_from: Mapped[datetime] = mapped_column(UtcDateTime)
    depart_until: Mapped[datetime] = mapped_column(UtcDateTime)
    arrive_from: Mapped[datetime] = mapped_column(UtcDateTime)
    arrive_until: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)
    loaded_kg: Mapped[float | None] = mapped_column(Float)
    delivered_kg: Mapped[float | None] = mapped_column(Float)
    loaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    departed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class HazmatZone(Base):
    """A restricted zone (polygon) or a permitted stop place (polygon or circle)."""

    __tablename__ = "hazmat_zones"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_hazmat_zones_kind_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    category: Mapped[str] = mapped_column(String(32))  # school, tunnel, crowded_centre, depot, service_area
    name: Mapped[str] = mapped_column(String(128))
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id"), index=True)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"ring": [...]} or {"lat", "lon", "radius_m"}
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


__all__ = [
    "HAZMAT_ZONE",
    "PRODUCT",
    "SHIPMENT",
    "SITE",
    "HazmatProduct",
    "HazmatSite",
    "HazmatZone",
    "MovementKind",
    "Shipment",
    "ShipmentStatus",
    "StockCount",
    "StockMovement",
    "ZoneKind",
]
