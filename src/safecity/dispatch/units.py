"""Units: registration, the status a unit goes through, and where it is.

Status follows the work: off duty -> available -> assigned -> en route -> on scene -> returning ->
available. A change names the version of the unit it was decided on (`expected_version`) and is
written as one conditional UPDATE on (id, version): of two dispatchers who saw the same
available unit, one wins and the other is told who has it (decision 0014). Anything else out of
order is refused saying what the unit may become from where it is.

Positions come from the unit's `unit_fix` sightings. A fix is not trusted (kept as the unit's
`position_flag`, the position left as it was) when it lies far off any road for a vehicle, or
when reaching it from the last trusted fix would need an impossible speed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safecity.core.audit import AuditEntry
from safecity.core.context import Context
from safecity.core.geo import distance_m
from safecity.dispatch.errors import DispatchConflict, DispatchError, DispatchNotFound
from safecity.dispatch.models import OPEN_ORDERS, Order, Unit, UnitKind, UnitStatus
from safecity.dispatch.schemas import UnitIn, UnitOut
from safecity.dispatch.service import DispatchService
from safecity.store import transaction

S = UnitStatus
NEXT: dict[str, frozenset[str]] = {
    S.OFF_DUTY: frozenset({S.AVAILABLE}),
    S.AVAILABLE: frozenset({S.ASSIGNED, S.OFF_DUTY}),
    S.ASSIGNED: frozenset({S.EN_ROUTE, S.ON_SCENE, S.AVAILABLE}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.AVAILABLE}),
    S.ON_SCENE: frozenset({S.RETURNING, S.AVAILABLE}),
    S.RETURNING: frozenset({S.AVAILABLE, S.ASSIGNED, S.OFF_DUTY}),
}
OFF_ROAD_M = 80.0  # a vehicle's fix further than this from any road is not trusted
TOP_SPEED_KMH: dict[str, float] = {
    UnitKind.CAR: 220.0,
    UnitKind.MOTORCYCLE: 220.0,
    UnitKind.FOOT: 30.0,
    UnitKind.DRONE: 160.0,
}


class Units(DispatchService):
    """Register units, change their status, take their fixes, list them."""

    def add(self, ctx: Context, body: UnitIn, *, resource: str) -> UnitOut:
        """Register a unit of the caller's areas (off duty until its shift starts or it signs on)."""
        ctx.require_area(body.area_id, what="this unit's district")
        start, end = body.shift_minutes()
        if body.kind == UnitKind.DRONE and (body.speed_kmh is None or body.endurance_min is None):
            raise DispatchError("a drone needs its air speed and its endurance", field="speed_kmh")
        with transaction(self._sessions) as session:
            if session.get(Unit, body.id) is not None:
                raise DispatchConflict(f"unit {body.id} is registered already", field="id")
            unit = Unit(
                id=body.id,
                kind=body.kind.value,
                department=body.department,
                station_id=body.station_id,
                area_id=body.area_id,
                home_lat=body.home_lat,
                home_lon=body.home_lon,
                shift_start_min=start,
                shift_end_min=end,
                speed_kmh=body.speed_kmh,
                endurance_min=body.endurance_min,
                device_id=body.device_id,
                status=S.OFF_DUTY.value,
                status_at=self._now(),
                version=1,
                created_at=self._now(),
                crew=[],
            )
            session.add(unit)
            session.flush()
            out = unit_out(unit)
        self._recorder.record(
            ctx, AuditEntry("dispatch.unit_add", resource, status=201, detail={"unit": body.id})
        )
        return out

    def get(self, ctx: Context, unit_id: str) -> UnitOut:
        with self._sessions() as session:
            return unit_out(require_unit(session, ctx, unit_id))

    def list(
        self, ctx: Context, *, status: str | None = None, department: str | None = None
    ) -> list[UnitOut]:
        """The units of the caller's areas."""
        query = select(Unit).order_by(Unit.id)
        if not ctx.city_wide:
            query = query.where(Unit.area_id.in_(ctx.areas))
        if status is not None:
            query = query.where(Unit.status == status)
        if department is not None:
            query = query.where(Unit.department == department)
        with self._sessions() as session:
            return [unit_out(u) for u in session.scalars(query)]

    def set_status(
        self, ctx: Context, unit_id: str, status: UnitStatus, *, expected_version: int | None, resource: str
    ) -> UnitOut:
        """A status change by the unit (its handset) or a dispatcher."""
        if status == S.ASSIGNED:
            raise DispatchError(
                "a unit is assigned by an order (dispatch), not by a status change", field="status"
            )
        with transaction(self._sessions) as session:
            unit = require_unit(session, ctx, unit_id)
            if status in (S.AVAILABLE, S.OFF_DUTY):
                # Stood down with an order still open, the unit could be sent twice: the order is
                # cancelled instead, which frees it.
                open_order = session.execute(
                    select(Order.id, Order.incident_id)
                    .where(Order.unit_id == unit_id, Order.status.in_(OPEN_ORDERS))
                    .order_by(Order.id)
                ).first()
                if open_order is not None:
                    raise DispatchConflict(
                        f"unit {unit_id} has open order {open_order[0]} on incident {open_order[1]}: "
                        "cancel the order (or let the unit report back) to stand it down",
                        field="status",
                    )
            change_status(session, unit, status, at=self._now(), expected_version=expected_version)
            if status in (S.AVAILABLE, S.OFF_DUTY):
                unit.incident_id = None
            out = unit_out(unit)
        self._recorder.record(
            ctx,
            AuditEntry("dispatch.unit_status", resource, detail={"unit": unit_id, "status": status.value}),
        )
        return out

    def sign_on(self, ctx: Context, unit_id: str, *, resource: str) -> UnitOut:
        """An officer joins a unit's crew for the shift (their handset now works its orders); an
        off-duty unit becomes available."""
        with transaction(self._sessions) as session:
            unit = require_unit(session, ctx, unit_id)
            elsewhere = [
                u.id for u in session.scalars(select(Unit)) if ctx.actor in u.crew and u.id != unit_id
            ]
            if elsewhere:
                raise DispatchConflict(
                    f"you are signed on to {elsewhere[0]}: sign off there first", field="unit_id"
                )
            if ctx.actor not in unit.crew:
                unit.crew = [*unit.crew, ctx.actor]
            if unit.status == S.OFF_DUTY:
                change_status(session, unit, S.AVAILABLE, at=self._now(), expected_version=None)
                session.refresh(unit)
            out = unit_out(unit)
        self._recorder.record(ctx, AuditEntry("dispatch.unit_sign_on", resource, detail={"unit": unit_id}))
        return out

    def sign_off(self, ctx: Context, unit_id: str, *, resource: str) -> UnitOut:
        """An officer leaves the crew; the last one out takes an available unit off duty."""
        with transaction(self._sessions) as session:
            unit = require_unit(session, ctx, unit_id)
            if ctx.actor not in unit.crew:
                raise DispatchError(f"you are not signed on to {unit_id}", field="unit_id")
            unit.crew = [a for a in unit.crew if a != ctx.actor]
            if not unit.crew and unit.status == S.AVAILABLE:
                change_status(session, unit, S.OFF_DUTY, at=self._now(), expected_version=None)
                session.refresh(unit)
            out = unit_out(unit)
        self._recorder.record(ctx, AuditEntry("dispatch.unit_sign_off", resource, detail={"unit": unit_id}))
        return out

    def mine(self, ctx: Context) -> UnitOut | None:
        """The unit the caller is signed on to, if any."""
        with self._sessions() as session:
            for unit in session.scalars(select(Unit).order_by(Unit.id)):
                if ctx.actor in unit.crew:
                    return unit_out(unit)
        return None

    def record_fix(self, unit_id: str, lat: float, lon: float, at: datetime) -> str | None:
        """Take a position fix of a unit; the reason it is not trusted, or None when it is.

        Called by the unit_fix follower (no person acts: not audited). An older fix than the last
        one is ignored.
        """
        with transaction(self._sessions) as session:
            unit = session.get(Unit, unit_id)
            if unit is None:
                raise DispatchNotFound("unit", unit_id)
            if unit.last_fix_at is not None and at <= unit.last_fix_at:
                return None
            flag = self._distrust(unit, lat, lon, at)
            unit.position_flag = flag
            if flag is None:
                unit.last_lat, unit.last_lon, unit.last_fix_at = lat, lon, at
            return flag

    def _distrust(self, unit: Unit, lat: float, lon: float, at: datetime) -> str | None:
        if unit.kind != UnitKind.DRONE:
            _, distances = self._network().snap_many(np.array([lat]), np.array([lon]))
            if float(distances[0]) > OFF_ROAD_M:
                return f"{float(distances[0]):,.0f} m from the nearest road"
        if unit.last_lat is not None and unit.last_lon is not None and unit.last_fix_at is not None:
            metres = distance_m(unit.last_lat, unit.last_lon, lat, lon)
            hours = max((at - unit.last_fix_at) / timedelta(hours=1), 1e-9)
            kmh = metres / 1000 / hours
            if kmh > TOP_SPEED_KMH[unit.kind]:
                return f"a jump of {metres:,.0f} m in {hours * 3600:,.0f} s ({kmh:,.0f} km/h)"
        return None


def crews(session: Session, actor: str, unit_id: str) -> bool:
    """Whether the account is signed on to the unit."""
    unit = session.get(Unit, unit_id)
    return unit is not None and actor in unit.crew


def require_unit(session: Session, ctx: Context, unit_id: str) -> Unit:
    """The unit, if it is in the caller's reach (else NotFound or AccessDenied)."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise DispatchNotFound("unit", unit_id)
    ctx.require_area(unit.area_id, what=f"unit {unit_id}")
    return unit


def change_status(
    session: Session,
    unit: Unit,
    status: UnitStatus,
    *,
    at: datetime,
    expected_version: int | None,
    incident_id: int | None = None,
) -> None:
    """Move a unit to `status` if allowed from where it is, in one conditional UPDATE on its version."""
    if expected_version is not None and unit.version != expected_version:
        raise DispatchConflict(
            f"unit {unit.id} changed since you looked (it is {unit.status} now, "
            f"version {unit.version} not {expected_version}): look again",
            field="version",
        )
    if status.value not in NEXT[unit.status]:
        allowed = ", ".join(sorted(NEXT[unit.status]))
        raise DispatchError(
            f"unit {unit.id} is {unit.status}: from there it can become {allowed}, not {status.value}",
            field="status",
        )
    values: dict[str, object] = {"status": status.value, "status_at": at, "version": Unit.version + 1}
    if status == S.ASSIGNED:
        values["incident_id"] = incident_id
    done = session.execute(
        update(Unit)
        .where(Unit.id == unit.id, Unit.version == unit.version, Unit.status == unit.status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(unit)
        now = session.get(Unit, unit.id)
        assert now is not None
        holder = f" (on incident {now.incident_id})" if now.incident_id else ""
        raise DispatchConflict(
            f"unit {unit.id} was changed by someone else a moment ago: it is {now.status} now{holder}",
            field="unit_id",
        )
    session.expire(unit)


def unit_out(unit: Unit) -> UnitOut:
    start, end = unit.shift_start_min, unit.shift_end_min
    return UnitOut(
        id=unit.id,
        kind=unit.kind,
        department=unit.department,
        station_id=unit.station_id,
        area_id=unit.area_id,
        status=unit.status,
        status_at=unit.status_at,
        version=unit.version,
        incident_id=unit.incident_id,
        lat=unit.last_lat,
        lon=unit.last_lon,
        fix_at=unit.last_fix_at,
        position_flag=unit.position_flag,
        home_lat=unit.home_lat,
        home_lon=unit.home_lon,
        shift=f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}",
        crew=list(unit.crew),
        device_id=unit.device_id,
        speed_kmh=unit.speed_kmh,
        endurance_min=unit.endurance_min,
    )


__all__ = ["NEXT", "Units", "change_status", "crews", "require_unit", "unit_out"]
