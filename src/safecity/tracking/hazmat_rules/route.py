"""`hazmat_off_route` and `hazmat_restricted_zone`: a tanker leaving its planned route, or entering a
school's, tunnel's or crowded centre's polygon, judged over batches of fixes with edge hysteresis.

Both run the tracking kernels (route.RouteWatch, geofence.SafeZones with hysteresis.Hysteresis)
over the batch's fixes of watched shipments, vectorised; the hysteresis state is per shipment and
carried across batches (and across reloads of the facts, by shipment id), so a fix jittering on
the edge raises nothing and an excursion raises one warning, keyed by the time it began.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from safecity.core.finding import Finding, Ref
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.tracking.hazmat_facts import HazmatView, fix_evidence, rows_of
from safecity.tracking.hazmat_models import HAZMAT_ZONE
from safecity.tracking.hazmat_rules.common import HazmatRule, carried_rows, hazmat_of, route_geojson
from safecity.tracking.hysteresis import Hysteresis, Transitions
from safecity.tracking.route import Route, RouteIndex, RouteWatch


class OffRouteParams(RuleParams):
    """A tanker further than allowed from its planned route."""

    max_off_route_m: float = Field(500, gt=0, le=50_000, description="Allowed distance from the route.")
    exit_margin_m: float = Field(
        50, ge=0, le=5_000, description="Beyond the allowed distance by this: off at once."
    )
    enter_margin_m: float = Field(
        50, ge=0, le=5_000, description="Back within the allowed distance by this: on again."
    )
    exit_after_fixes: int = Field(3, ge=1, le=100, description="Or this many fixes beyond it in a row.")


class RestrictedZoneParams(RuleParams):
    """A tanker entering a restricted zone (school, tunnel, crowded centre)."""

    enter_margin_m: float = Field(20, ge=0, le=90, description="Inside by this much: entered at once.")
    leave_margin_m: float = Field(30, ge=0, le=90, description="Outside by this much: left.")
    enter_after_fixes: int = Field(2, ge=1, le=100, description="Or this many fixes inside in a row.")


def _episodes(fixes: pl.DataFrame, moves: Transitions) -> list[tuple[int, int]]:
    """Each went-out transition as (first fix, end fix exclusive): its fixes up to the shipment's
    return in this batch, or to the end of its fixes in the batch."""
    rows = rows_of(fixes)
    ends = np.r_[np.flatnonzero(np.diff(rows)) + 1, len(rows)]
    out: list[tuple[int, int]] = []
    order = np.argsort(moves.fix, kind="stable")
    fix, went_out = moves.fix[order], moves.went_out[order]
    for k in np.flatnonzero(went_out):
        start = int(fix[k])
        end = int(ends[np.searchsorted(ends, start, side="right")])
        later = fix[(fix > start) & (fix < end)]
        out.append((start, int(later[0]) if len(later) else end))
    return out


class OffRouteRule(HazmatRule):
    """One warning per excursion off the planned route, with the excursion's fixes and the route."""

    kind = "hazmat_off_route"
    default_title = "危化品车辆偏离规划路线 (hazmat vehicle off its planned route)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: OffRouteParams = config.typed_params()
        self._view: HazmatView | None = None
        self._watch: RouteWatch | None = None

    def _follow(self, view: HazmatView) -> None:
        if view is self._view:
            return
        p = self.params
        watch = None
        if view.routes:
            routes = [Route(points, off_route_m=p.max_off_route_m) for points in view.routes]
            reach = max(1.5 * p.max_off_route_m, p.max_off_route_m + p.exit_margin_m)
            watch = RouteWatch(
                RouteIndex(routes, reach_m=reach),
                len(routes),
                exit_margin_m=p.exit_margin_m,
                enter_margin_m=p.enter_margin_m,
                exit_after_fixes=p.exit_after_fixes,
            )
            if self._watch is not None:
                was, into = carried_rows(self._view, view)
                watch.hysteresis.state[into] = self._watch.hysteresis.state[was]
                watch.hysteresis.run[into] = self._watch.hysteresis.run[was]
        self._view, self._watch = view, watch

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Step the route watch over the batch's fixes; a warning for each shipment that went off."""
        fixes, view = hazmat_of(facts).fixes(batch)
        self._follow(view)
        if fixes.is_empty() or self._watch is None:
            return []
        row = rows_of(fixes)
        lat, lon = fixes["lat"].to_numpy(), fixes["lon"].to_numpy()
        moves = self._watch.step(row, row, fixes["ts_ms"].to_numpy(), lat, lon)
        if not moves.went_out.any():
            return []
        found = []
        index = self._watch.index
        for start, end in _episodes(fixes, moves):
            part = fixes.slice(start, end - start)
            r = int(row[start])
            shipment = view.shipments[r]
            distance = index.distances(row[start:end], lat[start:end], lon[start:end])
            found.append(
                self.finding(
                    shipment=shipment,
                    dedup_key=f"off_route:{shipment['shipment_id']}:{int(part['ts_ms'][0])}",
                    now=now,
                    items=[fix_evidence(f, view, shipment) for f in part.iter_rows(named=True)],
                    facts={
                        "distance_m": round(float(distance[0]), 1),
                        "farthest_m": round(float(distance.max()), 1),
                        "max_off_route_m": self.params.max_off_route_m,
                        "route": route_geojson(view, r),
                    },
                )
            )
        return found


class RestrictedZoneRule(HazmatRule):
    """One warning per entry into a restricted zone, naming the zone, with the fixes inside it."""

    kind = "hazmat_restricted_zone"
    default_title = "危化品车辆驶入禁行区域 (hazmat vehicle entered a restricted zone)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: RestrictedZoneParams = config.typed_params()
        self._view: HazmatView | None = None
        self._inside: Hysteresis | None = None

    def _follow(self, view: HazmatView) -> None:
        if view is self._view:
            return
        p = self.params
        inside = Hysteresis(
            len(view.shipments),
            exit_margin_m=p.enter_margin_m,  # "out" of the hysteresis is inside a restricted zone
            enter_margin_m=p.leave_margin_m,
            exit_after_fixes=p.enter_after_fixes,
        )
        if self._inside is not None:
            was, into = carried_rows(self._view, view)
            inside.state[into], inside.run[into] = self._inside.state[was], self._inside.run[was]
        self._view, self._inside = view, inside

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Depth inside the nearest restricted zone per fix, through the hysteresis; a warning per entry."""
        fixes, view = hazmat_of(facts).fixes(batch)
        self._follow(view)
        if fixes.is_empty() or view.restricted_all is None or self._inside is None:
            return []
        row, ts = rows_of(fixes), fixes["ts_ms"].to_numpy()
        lat, lon = fixes["lat"].to_numpy(), fixes["lon"].to_numpy()
        depth = -view.restricted_all.distances(np.zeros_like(row), ts, lat, lon).distance_m
        moves = self._inside.step(row, ts, depth)
        found = []
        for start, end in _episodes(fixes, moves):
            zone = self._zone_at(view, ts[start], lat[start], lon[start])
            shipment = view.shipments[int(row[start])]
            part = fixes.slice(start, end - start)
            found.append(
                self.finding(
                    shipment=shipment,
                    dedup_key=f"restricted:{shipment['shipment_id']}:{zone['id']}:{int(ts[start])}",
                    now=now,
                    items=[fix_evidence(f, view, shipment) for f in part.iter_rows(named=True)],
                    facts={"zone": zone, "route": route_geojson(view, int(row[start]))},
                    refs=(Ref(HAZMAT_ZONE, str(zone["id"])),),
                )
            )
        return found

    @staticmethod
    def _zone_at(view: HazmatView, ts: int, lat: float, lon: float) -> dict[str, Any]:
        """The restricted zone the fix is deepest in (entries are rare: one fix against every zone)."""
        each = view.restricted_each
        assert each is not None
        n = len(view.restricted)
        found = each.distances(np.arange(n), np.full(n, ts), np.full(n, lat), np.full(n, lon))
        zone = view.restricted[int(np.argmin(found.distance_m))]
        return {"id": zone.id, "name": zone.name, "category": zone.category, "area_id": zone.area_id}


OFF_ROUTE = RuleKind(OffRouteRule.kind, OffRouteParams, OffRouteRule)
RESTRICTED_ZONE = RuleKind(RestrictedZoneRule.kind, RestrictedZoneParams, RestrictedZoneRule)

__all__ = ["OFF_ROUTE", "RESTRICTED_ZONE", "OffRouteRule", "RestrictedZoneRule"]
