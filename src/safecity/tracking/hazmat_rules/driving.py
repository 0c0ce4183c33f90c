"""`hazmat_long_stop`, `hazmat_outside_window` and `hazmat_speeding`: how a tanker is driven, from
the speed its own terminal reports (`attrs.speed_kmh`, the tachograph's or the GNSS receiver's).

A stop is a run of fixes at or under `stop_speed_kmh`; it is allowed anywhere for `max_stop_min`
and for as long as it takes in a permitted stop place (a depot, a service area: any fix of the
stop inside one). Moving (over `moving_speed_kmh`) before the departure window opens or after the
arrival window closes is one warning per shipment. Speeding is one warning per run of fixes over
`max_speed_kmh`. A fix without a speed is neither stopped, moving nor speeding.

The stop and speeding rules walk the watched fixes in Python, shipment by shipment: they are few
(a tanker reports every 10 to 30 s, so a thousand tankers send under 100 fixes a second) and the
state of an open stop is a handful of values per shipment, kept by shipment id across batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from safecity.core.finding import Evidence, Finding
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.tracking.hazmat_facts import HazmatView, epoch_ms, fix_evidence, rows_of
from safecity.tracking.hazmat_rules.common import HazmatRule, forget_unwatched, hazmat_of, route_geojson

_MIN_MS = 60_000


class LongStopParams(RuleParams):
    """A tanker stopped too long outside the permitted stop places."""

    max_stop_min: float = Field(30, gt=0, le=24 * 60, description="Minutes a stop may last outside them.")
    stop_speed_kmh: float = Field(3, ge=0, le=20, description="At or under this speed a fix is stopped.")


class WindowParams(RuleParams):
    """A tanker moving before its departure window opens or after its arrival window closes."""

    moving_speed_kmh: float = Field(5, ge=0, le=60, description="Over this speed a fix is moving.")
    grace_min: float = Field(0, ge=0, le=24 * 60, description="Minutes allowed either side of the windows.")


class SpeedingParams(RuleParams):
    """A tanker faster than allowed, by its terminal's own speed."""

    # 80 km/h: the limit for dangerous-goods vehicles on expressways (lower on other roads).
    max_speed_kmh: float = Field(80, gt=0, le=200, description="Speed over which a fix is speeding.")


@dataclass(slots=True)
class _Stop:
    """An open stop of one shipment."""

    start_ms: int
    first: Evidence
    permitted: bool
    reported: bool = False


def _speeds(fixes: pl.DataFrame) -> np.ndarray:
    """Each fix's speed, NaN where the terminal gave none."""
    return fixes["speed_kmh"].fill_null(np.nan).to_numpy().astype(np.float64)


class LongStopRule(HazmatRule):
    """One warning per stop longer than allowed outside the permitted places."""

    kind = "hazmat_long_stop"
    default_title = "危化品车辆在非许可地点长时间停留 (hazmat vehicle stopped outside permitted places)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: LongStopParams = config.typed_params()
        self._stops: dict[int, _Stop] = {}  # shipment id -> its open stop
        self._view: HazmatView | None = None

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Open, extend and close each shipment's stop; warn once when one outlasts the limit."""
        fixes, view = hazmat_of(facts).fixes(batch)
        if view is not self._view:
            forget_unwatched(self._stops, view)
            self._view = view
        if fixes.is_empty():
            return []
        speed = _speeds(fixes)
        stopped = speed <= self.params.stop_speed_kmh  # NaN compares False: no speed, no stop
        permitted = np.zeros(len(speed), dtype=bool)
        if view.permitted is not None:
            ts, lat, lon = (fixes[c].to_numpy() for c in ("ts_ms", "lat", "lon"))
            permitted = view.permitted.distances(np.zeros(len(speed), dtype=np.int64), ts, lat, lon).inside
        limit_ms = self.params.max_stop_min * _MIN_MS
        found = []
        for i, fix in enumerate(fixes.iter_rows(named=True)):
            if np.isnan(speed[i]):
                continue  # no speed: neither ends a stop nor extends it
            shipment = view.shipments[fix["row"]]
            sid = shipment["shipment_id"]
            if not stopped[i]:
                self._stops.pop(sid, None)
                continue
            stop = self._stops.get(sid)
            if stop is None:
                stop = self._stops[sid] = _Stop(fix["ts_ms"], fix_evidence(fix, view, shipment), False)
            stop.permitted |= bool(permitted[i])
            if stop.reported or stop.permitted or fix["ts_ms"] - stop.start_ms <= limit_ms:
                continue
            stop.reported = True
            found.append(self._warning(view, fix, stop, now))
        return found

    def _warning(self, view: HazmatView, fix: dict[str, Any], stop: _Stop, now: datetime) -> Finding:
        shipment = view.shipments[fix["row"]]
        return self.finding(
            shipment=shipment,
            dedup_key=f"long_stop:{shipment['shipment_id']}:{stop.start_ms}",
            now=now,
            items=[stop.first, fix_evidence(fix, view, shipment)],
            facts={
                "stopped_min": round((fix["ts_ms"] - stop.start_ms) / _MIN_MS, 1),
                "stopped_since": stop.first.ts.isoformat(),
                "lat": stop.first.lat,
                "lon": stop.first.lon,
                "route": route_geojson(view, fix["row"]),
            },
        )


class OutsideWindowRule(HazmatRule):
    """One warning per shipment moving outside its departure..arrival window, with those fixes."""

    kind = "hazmat_outside_window"
    default_title = "危化品车辆在许可时段外行驶 (hazmat vehicle moving outside its time window)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: WindowParams = config.typed_params()
        self._reported: set[int] = set()
        self._view: HazmatView | None = None

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Moving fixes before depart_from or after arrive_until (less and plus the grace)."""
        fixes, view = hazmat_of(facts).fixes(batch)
        if view is not self._view:
            forget_unwatched(self._reported, view)
            self._view = view
        if fixes.is_empty():
            return []
        grace = self.params.grace_min * _MIN_MS
        opens = np.array([epoch_ms(s["depart_from"]) for s in view.shipments], dtype=np.int64) - grace
        closes = np.array([epoch_ms(s["arrive_until"]) for s in view.shipments], dtype=np.int64) + grace
        row, ts = rows_of(fixes), fixes["ts_ms"].to_numpy()
        outside = (_speeds(fixes) > self.params.moving_speed_kmh) & ((ts < opens[row]) | (ts > closes[row]))
        hits = fixes.filter(pl.Series(outside))
        found = []
        for (r,), part in hits.group_by(["row"], maintain_order=True):
            shipment = view.shipments[int(r)]
            if shipment["shipment_id"] in self._reported:
                continue
            self._reported.add(shipment["shipment_id"])
            found.append(
                self.finding(
                    shipment=shipment,
                    dedup_key=f"window:{shipment['shipment_id']}",
                    now=now,
                    items=[fix_evidence(f, view, shipment) for f in part.iter_rows(named=True)],
                    facts={
                        "depart_from": shipment["depart_from"].isoformat(),
                        "arrive_until": shipment["arrive_until"].isoformat(),
                        "fixes_outside": part.height,
                    },
                )
            )
        return found


class SpeedingRule(HazmatRule):
    """One warning per run of fixes over the speed limit, with the run's fixes and its top speed."""

    kind = "hazmat_speeding"
    default_title = "危化品车辆超速 (hazmat vehicle speeding)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: SpeedingParams = config.typed_params()
        self._over: set[int] = set()  # shipments whose last fix was over the limit (a run still open)
        self._view: HazmatView | None = None

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Runs of speeding fixes per shipment; a run begun in an earlier batch was warned of then."""
        fixes, view = hazmat_of(facts).fixes(batch)
        if view is not self._view:
            forget_unwatched(self._over, view)
            self._view = view
        if fixes.is_empty():
            return []
        speed = _speeds(fixes)
        over = speed > self.params.max_speed_kmh
        known = ~np.isnan(speed)
        runs: dict[int, list[int]] = {}  # first fix of a run begun in this batch -> its fixes
        current: dict[int, int] = {}  # shipment id -> the run it is in, begun in this batch
        for i, r in enumerate(rows_of(fixes).tolist()):
            if not known[i]:
                continue
            sid = view.shipments[r]["shipment_id"]
            if not over[i]:
                self._over.discard(sid)
                current.pop(sid, None)
            elif sid not in self._over:
                self._over.add(sid)
                current[sid] = i
                runs[i] = [i]
            elif sid in current:
                runs[current[sid]].append(i)
        return [self._warning(view, fixes, members, speed, now) for members in runs.values()]

    def _warning(
        self, view: HazmatView, fixes: pl.DataFrame, members: list[int], speed: np.ndarray, now: datetime
    ) -> Finding:
        part = fixes[members]
        shipment = view.shipments[int(part["row"][0])]
        return self.finding(
            shipment=shipment,
            dedup_key=f"speeding:{shipment['shipment_id']}:{int(part['ts_ms'][0])}",
            now=now,
            items=[fix_evidence(f, view, shipment) for f in part.iter_rows(named=True)],
            facts={"top_speed_kmh": float(speed[members].max()), "max_speed_kmh": self.params.max_speed_kmh},
        )


LONG_STOP = RuleKind(LongStopRule.kind, LongStopParams, LongStopRule)
OUTSIDE_WINDOW = RuleKind(OutsideWindowRule.kind, WindowParams, OutsideWindowRule)
SPEEDING = RuleKind(SpeedingRule.kind, SpeedingParams, SpeedingRule)

__all__ = ["LONG_STOP", "OUTSIDE_WINDOW", "SPEEDING", "LongStopRule", "OutsideWindowRule", "SpeedingRule"]
