"""Stock of dangerous goods per site and product, as a ledger: every kilogram in or out is a line.

A site's stock is the sum of its movements: produced and received add, dispatched and used take
away, an adjustment does either. Nothing leaves a site that its ledger does not hold (a use or a
dispatch beyond the stock is refused), and nothing enters it that its licence does not permit.
A count records the declared quantity beside the ledger's at that moment; the rule
`hazmat_stock_unreconciled` warns when they differ by more than its tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, Recorder
from safecity.core.context import Context
from safecity.registry.events import changed
from safecity.store import transaction
from safecity.tracking.hazmat_errors import HazmatConflict, HazmatError
from safecity.tracking.hazmat_models import HazmatProduct, HazmatSite, MovementKind, StockCount, StockMovement
from safecity.tracking.hazmat_registry import HAZMAT, MAX_LIST, require_product, require_site
from safecity.tracking.hazmat_schemas import CountIn, CountOut, MovementIn, MovementOut, StockLine, to_kg

_OUT = frozenset({MovementKind.DISPATCHED, MovementKind.USED})
EPSILON_KG = 1e-6  # float sums of the ledger: a gram's millionth is not a shortfall


def balance(session: Session, site_id: int, product_id: int) -> float:
    """The site's stock of the product in kg: the sum of its ledger."""
    total = session.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity_kg), 0.0)).where(
            StockMovement.site_id == site_id, StockMovement.product_id == product_id
        )
    )
    return float(total or 0.0)


def move(
    session: Session,
    *,
    site: HazmatSite,
    product: HazmatProduct,
    kind: MovementKind,
    quantity: float,
    unit: str,
    kg: float,
    at: datetime,
    by: str,
    shipment_id: int | None = None,
    note: str = "",
    field: str = "quantity",
    outgoing: bool | None = None,
) -> StockMovement:
    """Write one ledger line (kg signed by `kind`, or `outgoing` for an adjustment), refusing stock
    the site lacks or is not licensed for."""
    out = kind in _OUT if outgoing is None else outgoing
    signed = -kg if out else kg
    if signed > 0 and product.un_number not in site.permitted_un:
        raise HazmatError(f"site {site.id} is not licensed for UN{product.un_number}", field="un_number")
    if signed < 0:
        held = balance(session, site.id, product.id)
        if held + signed < -EPSILON_KG:
            raise HazmatConflict(
                f"site {site.id} holds {held:.3f} kg of UN{product.un_number}, not {-signed:.3f}", field=field
            )
    line = StockMovement(
        site_id=site.id,
        product_id=product.id,
        kind=kind.value,
        quantity_kg=signed,
        quantity=quantity,
        unit=unit,
        shipment_id=shipment_id,
        at=at,
        recorded_by=by,
        note=note,
    )
    session.add(line)
    session.flush()
    return line


def movement_out(line: StockMovement, un: str) -> MovementOut:
    """A ledger line as answered."""
    return MovementOut(
        id=line.id,
        site_id=line.site_id,
        un_number=un,
        kind=line.kind,
        quantity_kg=line.quantity_kg,
        quantity=line.quantity,
        unit=line.unit,
        shipment_id=line.shipment_id,
        at=line.at,
        recorded_by=line.recorded_by,
        note=line.note,
    )


class Stock:
    """Record production, use and corrections at a site; read its stock and ledger; reconcile it."""

    def __init__(
        self, session_factory: sessionmaker[Session], recorder: Recorder, *, now: Callable[[], datetime]
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now

    def record(self, ctx: Context, site_id: int, body: MovementIn, *, resource: str) -> MovementOut:
        """Stock produced, used or adjusted at a site of the caller's areas."""
        body.check()
        with transaction(self._sessions) as session:
            site = require_site(session, ctx, site_id)
            product = require_product(session, body.un_number)
            kind = MovementKind(body.kind)
            line = move(
                session,
                site=site,
                product=product,
                kind=kind,
                quantity=body.quantity,
                unit=body.unit,
                kg=to_kg(body.quantity, body.unit, product.density_kg_per_l),
                at=self._now(),
                by=ctx.actor,
                note=body.note,
                outgoing=kind in _OUT or body.direction == "out",
            )
            changed(session, HAZMAT)
            out = movement_out(line, product.un_number)
        self._recorder.record(
            ctx,
            AuditEntry("hazmat.stock_record", resource, status=201, detail={"site": site_id, "line": out.id}),
        )
        return out

    def stock(self, ctx: Context, site_id: int, *, resource: str) -> list[StockLine]:
        """The site's stock per product (its ledger summed), by UN number."""
        with self._sessions() as session:
            require_site(session, ctx, site_id)
            rows = session.execute(
                select(
                    HazmatProduct.un_number,
                    HazmatProduct.name,
                    func.sum(StockMovement.quantity_kg),
                    func.count(StockMovement.id),
                )
                .join(HazmatProduct, HazmatProduct.id == StockMovement.product_id)
                .where(StockMovement.site_id == site_id)
                .group_by(HazmatProduct.un_number, HazmatProduct.name)
                .order_by(HazmatProduct.un_number)
            ).all()
        self._recorder.record(ctx, AuditEntry("hazmat.stock_read", resource, result_count=len(rows)))
        return [
            StockLine(un_number=u, product=n, quantity_kg=round(float(q), 6), movements=c)
            for u, n, q, c in rows
        ]

    def ledger(self, ctx: Context, site_id: int, *, resource: str) -> list[MovementOut]:
        """The site's ledger lines, oldest first (the latest `MAX_LIST`)."""
        with self._sessions() as session:
            require_site(session, ctx, site_id)
            rows = session.execute(
                select(StockMovement, HazmatProduct.un_number)
                .join(HazmatProduct, HazmatProduct.id == StockMovement.product_id)
                .where(StockMovement.site_id == site_id)
                .order_by(StockMovement.id.desc())
                .limit(MAX_LIST)
            ).all()
            lines = [movement_out(line, un) for line, un in reversed(rows)]
        self._recorder.record(ctx, AuditEntry("hazmat.ledger_read", resource, result_count=len(lines)))
        return lines

    def count(self, ctx: Context, site_id: int, body: CountIn, *, resource: str) -> CountOut:
        """Record a physical count beside the ledger's stock; the difference is in the answer."""
        with transaction(self._sessions) as session:
            site = require_site(session, ctx, site_id)
            product = require_product(session, body.un_number)
            declared = to_kg(body.quantity, body.unit, product.density_kg_per_l)
            row = StockCount(
                site_id=site.id,
                product_id=product.id,
                declared_kg=declared,
                ledger_kg=balance(session, site.id, product.id),
                counted_at=self._now(),
                counted_by=ctx.actor,
            )
            session.add(row)
            session.flush()
            changed(session, HAZMAT)
            out = CountOut(
                id=row.id,
                site_id=site.id,
                un_number=product.un_number,
                declared_kg=row.declared_kg,
                ledger_kg=round(row.ledger_kg, 6),
                difference_kg=round(row.declared_kg - row.ledger_kg, 6),
                counted_at=row.counted_at,
            )
        self._recorder.record(
            ctx,
            AuditEntry("hazmat.stock_count", resource, status=201, detail={"site": site_id, "count": out.id}),
        )
        return out


__all__ = ["EPSILON_KG", "Stock", "balance", "move", "movement_out"]
