"""Requests and answers of the hazardous-chemicals use cases, with the checks of their geometry.

A planned route is a GeoJSON LineString of [lon, lat] points (validated as a `route.Route`); a
restricted zone is a GeoJSON Polygon (its outer ring; validated as a `geofence.PolygonZone`); a
permitted stop place is a Polygon or a circle `{"type": "Circle", "center": [lon, lat],
"radius_m": r}`. Quantities are positive and given in t, kg or L; the ledger keeps kilograms.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from safecity.tracking.errors import InvalidGeometry
from safecity.tracking.geofence import CircleZone, PolygonZone, Zone
from safecity.tracking.hazmat_errors import HazmatError
from safecity.tracking.hazmat_models import MovementKind, ZoneKind
from safecity.tracking.route import Route

Unit = Literal["kg", "t", "L"]
_UN = re.compile(r"^(?:UN ?)?(\d{4})$")
_KG_PER_UNIT = {"kg": 1.0, "t": 1000.0}
MAX_QUANTITY = 1e9  # a billion units: far past any site or tanker, catches a slipped decimal


UnNumber = Annotated[str, AfterValidator(lambda v: un_number(v))]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def un_number(value: str) -> str:
    """The four digits of a UN number ("UN1203", "UN 1203" and "1203" are the same)."""
    found = _UN.match(value.strip().upper())
    if found is None or found.group(1) == "0000":
        raise ValueError("a UN number is four digits, e.g. 1203 (petrol) or UN1005 (ammonia)")
    return found.group(1)


def to_kg(quantity: float, unit: str, density_kg_per_l: float | None, *, field: str = "unit") -> float:
    """A quantity in kilograms (litres through the product's density; refused without one)."""
    if unit == "L":
        if density_kg_per_l is None:
            raise HazmatError("the product has no density: give the quantity in kg or t", field=field)
        return quantity * density_kg_per_l
    return quantity * _KG_PER_UNIT[unit]


class ProductIn(_In):
    """Register a dangerous good."""

    un_number: UnNumber = Field(min_length=4, max_length=7, description="UN number, four digits (1203).")
    name: str = Field(min_length=1, max_length=128, description="Proper shipping name (汽油, petrol).")
    hazard_class: str = Field(
        pattern=r"^[1-9](\.[1-6])?$", description='Hazard class or division: "3", "2.1", "6.1".'
    )
    packing_group: Literal["I", "II", "III"] | None = Field(None, description="Packing group, if any.")
    density_kg_per_l: float | None = Field(None, gt=0, le=25, description="For quantities in litres.")


class ProductOut(BaseModel):
    """A registered product."""

    id: int
    un_number: str
    name: str
    hazard_class: str
    packing_group: str | None
    density_kg_per_l: float | None


class SiteIn(_In):
    """Register a licensed storage or production site."""

    name: str = Field(min_length=1, max_length=128)
    area_id: str = Field(max_length=32, description="The community or station area it lies in.")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    licence: str = Field(min_length=1, max_length=64, description="Its dangerous-goods licence number.")
    permitted_un: list[str] = Field(default_factory=list, max_length=500, description="UN numbers licensed.")

    @field_validator("permitted_un")
    @classmethod
    def _uns(cls, values: list[str]) -> list[str]:
        return sorted({un_number(v) for v in values})


class SiteOut(BaseModel):
    """A registered site."""

    id: int
    name: str
    area_id: str
    lat: float
    lon: float
    licence: str
    permitted_un: list[str]


class MovementIn(_In):
    """Record stock made, used or corrected at a site (shipments record their own movements)."""

    un_number: UnNumber = Field(min_length=4, max_length=7)
    kind: Literal["produced", "used", "adjusted"]
    quantity: float = Field(gt=0, le=MAX_QUANTITY, description="How much, positive.")
    unit: Unit = "kg"
    direction: Literal["in", "out"] | None = Field(
        None, description="For an adjustment: whether it adds (in) or removes (out) stock."
    )
    note: str = Field("", max_length=256)

    def check(self) -> None:
        """A direction is given for an adjustment, and only for one."""
        if (self.kind == MovementKind.ADJUSTED) != (self.direction is not None):
            raise HazmatError(
                "direction (in or out) is given for an adjustment, and only for one", field="direction"
            )


class MovementOut(BaseModel):
    """One ledger line."""

    id: int
    site_id: int
    un_number: str
    kind: str
    quantity_kg: float
    quantity: float
    unit: str
    shipment_id: int | None
    at: datetime
    recorded_by: str
    note: str


class StockLine(BaseModel):
    """A site's stock of one product: the sum of its ledger."""

    un_number: str
    product: str
    quantity_kg: float
    movements: int


class CountIn(_In):
    """A physical count of a site's product, to reconcile against the ledger."""

    un_number: UnNumber = Field(min_length=4, max_length=7)
    quantity: float = Field(ge=0, le=MAX_QUANTITY)
    unit: Unit = "kg"


class CountOut(BaseModel):
    """A count and how it compares with the ledger."""

    id: int
    site_id: int
    un_number: str
    declared_kg: float
    ledger_kg: float
    difference_kg: float
    counted_at: datetime


class LineString(_In):
    """A GeoJSON LineString of [lon, lat] points."""

    type: Literal["LineString"]
    coordinates: list[tuple[float, float]] = Field(max_length=20_000)


def planned_route(line: LineString, *, field: str = "route") -> Route:
    """The line as a validated route (an invalid line is refused naming the point at fault)."""
    try:
        return Route(tuple((float(lon), float(lat)) for lon, lat in line.coordinates))
    except InvalidGeometry as exc:
        raise InvalidGeometry(str(exc), field=f"{field}.coordinates") from None


class ShipmentIn(_In):
    """Plan a shipment of one product from a consignor site to a consignee site."""

    un_number: UnNumber = Field(min_length=4, max_length=7)
    quantity: float = Field(gt=0, le=MAX_QUANTITY)
    unit: Unit = "kg"
    consignor_site_id: int = Field(ge=1)
    consignee_site_id: int = Field(ge=1)
    carrier: str = Field(min_length=1, max_length=128, description="The carrier company.")
    plate: str = Field(min_length=7, max_length=8, description="The vehicle's plate (浙C12345).")
    device_id: str = Field(max_length=64, description="The vehicle's tracker (a registered `tracker`).")
    terminal: str = Field(pattern=r"^\d{12}(\d{8})?$", description="Its JT/T 808 terminal phone number.")
    route: LineString
    depart_from: AwareDatetime
    depart_until: AwareDatetime
    arrive_from: AwareDatetime
    arrive_until: AwareDatetime

    def check(self) -> None:
        """Refuse windows out of order and a shipment to its own consignor, naming the field."""
        if self.depart_until < self.depart_from:
            raise HazmatError("depart_until is before depart_from", field="depart_until")
        if self.arrive_until < self.arrive_from:
            raise HazmatError("arrive_until is before arrive_from", field="arrive_until")
        if self.arrive_until < self.depart_from:
            raise HazmatError(
                "the arrival window ends before the departure window opens", field="arrive_until"
            )
        if self.consignor_site_id == self.consignee_site_id:
            raise HazmatError("consignor and consignee are the same site", field="consignee_site_id")


class LoadIn(_In):
    """What was loaded at the consignor."""

    quantity: float = Field(gt=0, le=MAX_QUANTITY)
    unit: Unit = "kg"


class DeliverIn(_In):
    """What the consignee received."""

    quantity: float = Field(ge=0, le=MAX_QUANTITY)
    unit: Unit = "kg"


class WarningOut(BaseModel):
    """An open warning about a shipment."""

    alert_id: str
    rule: str
    rule_kind: str
    title: str
    status: str
    station_id: str | None
    last_seen_at: datetime


class ShipmentOut(BaseModel):
    """A shipment, its planned route (GeoJSON) and, when asked for one, its open warnings."""

    id: int
    un_number: str
    hazard_class: str
    quantity: float
    unit: str
    quantity_kg: float
    consignor_site_id: int
    consignee_site_id: int
    carrier: str
    plate: str
    device_id: str
    terminal: str
    area_id: str
    route: dict[str, Any]
    depart_from: datetime
    depart_until: datetime
    arrive_from: datetime
    arrive_until: datetime
    status: str
    loaded_kg: float | None
    delivered_kg: float | None
    loaded_at: datetime | None
    departed_at: datetime | None
    delivered_at: datetime | None
    difference_kg: float | None = Field(None, description="Delivered minus loaded, once delivered.")
    warnings: list[WarningOut] = Field(default_factory=list)


class ZoneIn(_In):
    """A restricted zone (a polygon) or a permitted stop place (a polygon or a circle)."""

    kind: ZoneKind
    category: str = Field(
        min_length=1, max_length=32, description="school, tunnel, crowded_centre, depot, service_area..."
    )
    name: str = Field(min_length=1, max_length=128)
    area_id: str = Field(max_length=32)
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon, or a Circle with center and radius_m.")


def zone_of(geometry: dict[str, Any], kind: ZoneKind) -> Zone:
    """The zone a geometry describes, validated (a bad one names `geometry.<what>`)."""
    shape = geometry.get("type")
    try:
        if shape == "Polygon":
            rings = geometry.get("coordinates")
            if not isinstance(rings, list) or not rings or not isinstance(rings[0], list):
                raise InvalidGeometry("a Polygon's coordinates are a list of rings", field="coordinates")
            return PolygonZone(tuple(_point(p) for p in rings[0]))
        if shape == "Circle" and kind == ZoneKind.PERMITTED_STOP:
            lon, lat = _point(geometry.get("center"))
            return CircleZone(lat=lat, lon=lon, radius_m=float(geometry.get("radius_m", 0)))
    except InvalidGeometry as exc:
        raise InvalidGeometry(str(exc), field=f"geometry.{exc.field or 'coordinates'}") from None
    except (TypeError, ValueError):
        raise InvalidGeometry(
            "points are [lon, lat] pairs of numbers", field="geometry.coordinates"
        ) from None
    allowed = "Polygon" if kind == ZoneKind.RESTRICTED else "Polygon or Circle"
    raise InvalidGeometry(f"a {kind.value} zone is a {allowed}, not {shape!r}", field="geometry.type")


def _point(value: Any) -> tuple[float, float]:
    lon, lat = value
    return float(lon), float(lat)


class ZoneOut(BaseModel):
    """A registered zone."""

    id: int
    kind: str
    category: str
    name: str
    area_id: str
    geometry: dict[str, Any]


__all__ = [
    "CountIn",
    "CountOut",
    "DeliverIn",
    "LineString",
    "LoadIn",
    "MovementIn",
    "MovementOut",
    "ProductIn",
    "ProductOut",
    "ShipmentIn",
    "ShipmentOut",
    "SiteIn",
    "SiteOut",
    "StockLine",
    "WarningOut",
    "ZoneIn",
    "ZoneOut",
    "planned_route",
    "to_kg",
    "un_number",
    "zone_of",
]
