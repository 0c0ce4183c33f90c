"""The hazardous-chemicals registry: products by UN number, licensed storage sites, and the zones a
tanker must keep out of (schools, tunnels, crowded centres) or may stop in (depots, service areas).

Products are reference data for the whole city (no area); sites and zones lie in an area, and
only a caller reaching that area registers them. Each change is audited and announces
`RegistryChanged("hazmat")`, so the rules' facts (hazmat_facts) reload.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder
from safecity.core.context import Context
from safecity.registry.events import changed
from safecity.store import transaction
from safecity.tracking.hazmat_errors import HazmatConflict, HazmatNotFound
from safecity.tracking.hazmat_models import HazmatProduct, HazmatSite, HazmatZone
from safecity.tracking.hazmat_schemas import (
    ProductIn,
    ProductOut,
    SiteIn,
    SiteOut,
    ZoneIn,
    ZoneOut,
    zone_of,
)

HAZMAT = "hazmat"  # the RegistryChanged group of hazmat facts
MAX_LIST = 2000


def require_area(session: Session, area_id: str) -> None:
    """Refuse an area the registry does not know (named as the field `area_id`)."""
    if registry.get_area(session, area_id=area_id) is None:
        raise HazmatNotFound("area", area_id)


def require_product(session: Session, un: str) -> HazmatProduct:
    """The product registered under a UN number (404 naming `un_number`)."""
    product = session.scalar(select(HazmatProduct).where(HazmatProduct.un_number == un))
    if product is None:
        raise HazmatNotFound("product", f"UN{un}", field="un_number")
    return product


def require_site(session: Session, ctx: Context, site_id: int, *, field: str = "site_id") -> HazmatSite:
    """A site within the caller's reach (404 unknown, 403 outside the caller's areas)."""
    site = session.get(HazmatSite, site_id)
    if site is None:
        raise HazmatNotFound("site", site_id, field=field)
    ctx.require_area(site.area_id, what=f"site {site_id}")
    return site


class HazmatRegistry:
    """Register and list products, sites and zones."""

    def __init__(
        self, session_factory: sessionmaker[Session], recorder: Recorder, *, now: Callable[[], datetime]
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now

    def add_product(self, ctx: Context, body: ProductIn, *, resource: str) -> ProductOut:
        """A dangerous good by its UN number (one registration per UN number)."""
        with transaction(self._sessions) as session:
            taken = session.scalar(select(HazmatProduct.id).where(HazmatProduct.un_number == body.un_number))
            if taken is not None:
                raise HazmatConflict(f"UN{body.un_number} is registered already", field="un_number")
            product = HazmatProduct(**body.model_dump(), created_at=self._now())
            session.add(product)
            session.flush()
            changed(session, HAZMAT)
            out = ProductOut.model_validate(product, from_attributes=True)
        self._audit(ctx, "hazmat.product_add", resource, {"product": out.id, "un_number": out.un_number})
        return out

    def products(self, ctx: Context) -> list[ProductOut]:
        """Every registered product, by UN number."""
        with self._sessions() as session:
            rows = session.scalars(select(HazmatProduct).order_by(HazmatProduct.un_number).limit(MAX_LIST))
            return [ProductOut.model_validate(p, from_attributes=True) for p in rows]

    def add_site(self, ctx: Context, body: SiteIn, *, resource: str) -> SiteOut:
        """A licensed site in an area of the caller's, with the UN numbers it may hold."""
        with transaction(self._sessions) as session:
            ctx.require_area(body.area_id, what=f"area {body.area_id}")
            require_area(session, body.area_id)
            site = HazmatSite(**body.model_dump(), created_at=self._now())
            session.add(site)
            session.flush()
            changed(session, HAZMAT)
            out = SiteOut.model_validate(site, from_attributes=True)
        self._audit(ctx, "hazmat.site_add", resource, {"site": out.id})
        return out

    def sites(self, ctx: Context) -> list[SiteOut]:
        """Sites in the caller's areas, by id."""
        with self._sessions() as session:
            stmt = select(HazmatSite).order_by(HazmatSite.id)
            if not ctx.city_wide:
                stmt = stmt.where(HazmatSite.area_id.in_(sorted(ctx.areas)))
            return [
                SiteOut.model_validate(s, from_attributes=True) for s in session.scalars(stmt.limit(MAX_LIST))
            ]

    def add_zone(self, ctx: Context, body: ZoneIn, *, resource: str) -> ZoneOut:
        """A restricted zone or a permitted stop place in an area of the caller's."""
        zone_of(body.geometry, body.kind)
        with transaction(self._sessions) as session:
            ctx.require_area(body.area_id, what=f"area {body.area_id}")
            require_area(session, body.area_id)
            taken = session.scalar(
                select(HazmatZone.id).where(HazmatZone.kind == body.kind.value, HazmatZone.name == body.name)
            )
            if taken is not None:
                raise HazmatConflict(f"a {body.kind.value} zone named {body.name!r} exists", field="name")
            zone = HazmatZone(
                kind=body.kind.value,
                category=body.category,
                name=body.name,
                area_id=body.area_id,
                geometry=body.geometry,
                created_at=self._now(),
            )
            session.add(zone)
            session.flush()
            changed(session, HAZMAT)
            out = ZoneOut.model_validate(zone, from_attributes=True)
        self._audit(ctx, "hazmat.zone_add", resource, {"zone": out.id, "kind": out.kind})
        return out

    def zones(self, ctx: Context, *, kind: str | None = None) -> list[ZoneOut]:
        """Zones in the caller's areas (of one kind, if given), by id."""
        with self._sessions() as session:
            stmt = select(HazmatZone).order_by(HazmatZone.id)
            if kind is not None:
                stmt = stmt.where(HazmatZone.kind == kind)
            if not ctx.city_wide:
                stmt = stmt.where(HazmatZone.area_id.in_(sorted(ctx.areas)))
            return [
                ZoneOut.model_validate(z, from_attributes=True) for z in session.scalars(stmt.limit(MAX_LIST))
            ]

    def _audit(self, ctx: Context, action: str, resource: str, detail: dict[str, object]) -> None:
        self._recorder.record(ctx, AuditEntry(action, resource, status=201, detail=detail))


__all__ = ["HAZMAT", "HazmatRegistry", "require_area", "require_product", "require_site"]
