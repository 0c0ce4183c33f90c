"""Planted incidents with ground truth: stolen bikes, tampered tags, stations that fall silent.

A theft: at T a parked bike is ridden off to a nearby hideout; at T + delay its owner reports
it (a `ReportStolen` action the driver turns into `report_stolen`); a few minutes later the
thief rides it across town past several stations. The ground truth names the first station
whose read falls after the report: where the stolen-bike alarm must fire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from safecity.sim.events import CODE_TAMPER, Events, pass_times, reads_from_passes
from safecity.sim.grid import Grid, IntArray
from safecity.sim.route import StationIndex, route_waypoints
from safecity.sim.trips import KIND_GETAWAY, KIND_HIDEOUT, Fleet, Trips, local_day, trip_key

THIEF_SPEED_MPS = (5.5, 7.0)  # 20-25 km/h: in a hurry, but not so fast as to be noticed
_HIDEOUT_M = (300.0, 900.0)
_GETAWAY_MIN_M = 1500.0
_CANDIDATES = 48


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class ReportStolen:
    """The owner reports the bike stolen; the driver lists it through the registry."""

    bike_id: int
    tag: str
    at: datetime
    reported_by: str
    basis: str
    owner_id: int
    station_id: str | None = None


@dataclass(frozen=True, slots=True)
class StationPass:
    """A stolen bike passed a station; `read` tells whether the station read it."""

    device: str
    at: datetime
    read: bool


@dataclass(frozen=True)
class TheftTruth:
    """What really happened in a planted theft."""

    bike_id: int
    tag: str
    owner_id: int
    stolen_at: datetime
    reported_at: datetime
    taken_from_area: str
    alarm_station: str  # the first station whose read falls after the report
    alarm_read_at: datetime
    getaway_passes: list[StationPass] = field(default_factory=list)  # after the report, in order
    hideout_reads: list[str] = field(default_factory=list)  # stations read before the report
    kind: str = "theft"


@dataclass(frozen=True)
class TamperTruth:
    """A tag reported tampering on one read."""

    bike_id: int
    tag: str
    device: str
    at: datetime
    kind: str = "tamper"


@dataclass(frozen=True)
class SilenceTruth:
    """A station stopped sending anything (reads and heartbeats) from `silent_from`."""

    device: str
    silent_from: datetime
    last_heartbeat_at: datetime | None
    kind: str = "station_silent"


Truth = TheftTruth | TamperTruth | SilenceTruth


def truth_json(truth: Truth) -> dict[str, Any]:
    """A ground-truth record as JSON-able values (times in RFC 3339 UTC)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat().replace("+00:00", "Z")
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    data = plain(asdict(truth))
    return {"kind": data.pop("kind"), **data}


@dataclass
class Planner:
    """Plans incidents against the simulated city; `silent_from_ms` is filled by `silences` first."""

    fleet: Fleet
    grid: Grid
    index: StationIndex
    device_ids: list[str]
    block_community: IntArray  # super-block -> community index
    community_ids: list[str]
    station_of_area: dict[str, str]
    trips_of_day: Callable[[date], Trips]
    rng: np.random.Generator
    miss_rate: float
    silent_from_ms: IntArray
    stolen_at_ms: dict[int, int] = field(default_factory=dict)

    def silences(
        self, count: int, start_ms: int, horizon_ms: int, hb_phase: IntArray, hb_period: IntArray
    ) -> list[SilenceTruth]:
        """Pick stations that go silent part-way through the horizon."""
        out = []
        for dev in self.rng.choice(
            len(self.device_ids), size=min(count, len(self.device_ids)), replace=False
        ):
            at = start_ms + int(self.rng.uniform(0.2, 0.5) * horizon_ms)
            self.silent_from_ms[dev] = at
            k = (at - 1 - hb_phase[dev]) // hb_period[dev]
            last = int(hb_phase[dev] + k * hb_period[dev])
            out.append(SilenceTruth(self.device_ids[dev], _utc(at), _utc(last) if last >= start_ms else None))
        return out

    def _parked_at(self, t_ms: int) -> tuple[IntArray, IntArray, np.ndarray]:
        """Where each bike is parked at t (x, y) and whether it is riding around then."""
        x, y = self.fleet.home_x.copy(), self.fleet.home_y.copy()
        busy = np.zeros(self.fleet.size, dtype=bool)
        day = local_day(_utc(t_ms))
        for d in (date.fromordinal(day.toordinal() - 1), day):
            trips = self.trips_of_day(d)
            end = trips.end_ms(self.grid)
            busy[trips.bike[(trips.start_ms - 120_000 <= t_ms) & (t_ms <= end + 120_000)]] = True
            done = np.flatnonzero(end <= t_ms)[::-1]  # latest first
            bikes, first = np.unique(trips.bike[done], return_index=True)
            x[bikes], y[bikes] = trips.wx[done[first], -1], trips.wy[done[first], -1]
        return x, y, busy

    def _route_to(
        self,
        ox: int,
        oy: int,
        tx: np.ndarray,
        ty: np.ndarray,
        bike: int,
        start_ms: int,
        speed: float,
        kind: int,
    ) -> Trips:
        n = len(tx)
        px, py = self.grid.snap_parking(tx, ty, self.rng.random(n) < 0.5)
        wx, wy = route_waypoints(
            np.full(n, ox), np.full(n, oy), px, py, self.rng.random(n) < 0.5, self.rng.random(n), self.grid
        )
        return Trips(
            np.full(n, bike),
            np.full(n, start_ms),
            np.full(n, speed),
            wx,
            wy,
            trip_key(local_day(_utc(start_ms)).toordinal(), kind, np.full(n, bike)),
            np.full(n, kind),
        )

    def theft(
        self, start_ms: int, horizon_ms: int, delay_s: tuple[float, float]
    ) -> tuple[TheftTruth, ReportStolen, Trips, Events] | None:
        """Plan one theft whose alarm falls inside the horizon; None if none can be planted."""
        for _ in range(20):
            planned = self._try_theft(start_ms, horizon_ms, delay_s)
            if planned is not None:
                return planned
        return None

    def _try_theft(
        self, start_ms: int, horizon_ms: int, delay_s: tuple[float, float]
    ) -> tuple[TheftTruth, ReportStolen, Trips, Events] | None:
        end_ms = start_ms + horizon_ms
        t_ms = start_ms + int(self.rng.uniform(60_000, 0.4 * horizon_ms))
        x, y, busy = self._parked_at(t_ms)
        eligible = np.flatnonzero(~busy)
        eligible = eligible[~np.isin(eligible, list(self.stolen_at_ms))]
        if len(eligible) == 0:
            return None
        bike = int(self.rng.choice(eligible))
        ox, oy, speed = int(x[bike]), int(y[bike]), float(self.rng.uniform(*THIEF_SPEED_MPS))
        angle, dist = self.rng.uniform(0, 2 * np.pi), self.rng.uniform(*_HIDEOUT_M) / self.grid.unit_m
        hide = self._route_to(
            ox,
            oy,
            np.array([ox + dist * np.cos(angle)]),
            np.array([oy + dist * np.sin(angle)]),
            bike,
            t_ms,
            speed,
            KIND_HIDEOUT,
        )
        report_ms = max(
            t_ms + int(self.rng.uniform(*delay_s) * 1000), int(hide.end_ms(self.grid)[0]) + 120_000
        )
        depart_ms = report_ms + int(self.rng.uniform(120_000, 480_000))
        hx, hy = int(hide.wx[0, -1]), int(hide.wy[0, -1])
        cand = self._route_to(
            hx,
            hy,
            self.rng.uniform(0, self.grid.width_units, _CANDIDATES),
            self.rng.uniform(0, self.grid.height_units, _CANDIDATES),
            bike,
            depart_ms,
            speed,
            KIND_GETAWAY,
        )
        passes, at_ms = pass_times(cand, self.index, self.grid)
        live = (at_ms < end_ms) & (at_ms < self.silent_from_ms[passes.station])
        in_time = np.bincount(passes.route[live], minlength=_CANDIDATES)
        length = cand.length_m(self.grid)
        far = length >= min(_GETAWAY_MIN_M, length.max())
        best = int(np.argmax(np.where(far, in_time, -1)))
        if in_time[best] == 0:
            return None
        getaway = cand.take(np.array([best]))
        hide_reads = self._reads(hide, force_first=False)
        away_reads = self._reads(getaway, force_first=True)
        if not (away_reads.ts_ms > report_ms).any():
            return None
        self.stolen_at_ms[bike] = t_ms
        truth, report = self._truth(bike, t_ms, report_ms, ox, oy, hide_reads, getaway, away_reads)
        return truth, report, Trips.concat([hide, getaway]), Events.concat([hide_reads, away_reads])

    def _reads(self, trip: Trips, *, force_first: bool) -> Events:
        """Reads of one ride; with force_first the first live station surely reads the tag."""
        passes, at_ms = pass_times(trip, self.index, self.grid)
        live = at_ms < self.silent_from_ms[passes.station]
        miss = np.full(len(at_ms), self.miss_rate)
        if force_first and live.any():
            miss[int(np.argmax(live))] = 0.0
        reads = reads_from_passes(
            at_ms,
            passes.station,
            trip.bike[passes.route],
            trip.key[passes.route] * 1024 + passes.ordinal,
            trip.speed_mps[passes.route],
            miss,
        ).sorted()
        return reads.take(reads.ts_ms < self.silent_from_ms[reads.dev])

    def _truth(
        self,
        bike: int,
        t_ms: int,
        report_ms: int,
        ox: int,
        oy: int,
        hide_reads: Events,
        getaway: Trips,
        away_reads: Events,
    ) -> tuple[TheftTruth, ReportStolen]:
        tag, owner = self.fleet.tags[bike], int(self.fleet.owner_id[bike])
        after = away_reads.take(away_reads.ts_ms > report_ms)
        passes, at_ms = pass_times(getaway, self.index, self.grid)
        read_devs = set(after.dev.tolist())
        bx, by = self.grid.block_of(np.array([ox]), np.array([oy]))
        area = self.community_ids[int(self.block_community[bx[0], by[0]])]
        truth = TheftTruth(
            bike_id=bike + 1,
            tag=tag,
            owner_id=owner,
            stolen_at=_utc(t_ms),
            reported_at=_utc(report_ms),
            taken_from_area=area,
            alarm_station=self.device_ids[int(after.dev[0])],
            alarm_read_at=_utc(int(after.ts_ms[0])),
            getaway_passes=[
                StationPass(self.device_ids[s], _utc(int(a)), s in read_devs)
                for s, a in zip(passes.station.tolist(), at_ms.tolist(), strict=True)
            ],
            hideout_reads=[self.device_ids[d] for d in hide_reads.dev.tolist()],
        )
        report = ReportStolen(
            bike_id=bike + 1,
            tag=tag,
            at=_utc(report_ms),
            reported_by=f"owner (person {owner})",
            basis=f"owner's report: bike taken around {_utc(t_ms).isoformat(timespec='minutes')} in {area}",
            owner_id=owner,
            station_id=self.station_of_area.get(area),
        )
        return truth, report

    def tamper(self, start_ms: int, horizon_ms: int) -> tuple[TamperTruth, Events] | None:
        """Plan one tamper flag on a read of a bike riding within the horizon."""
        lo, hi = start_ms, start_ms + int(0.8 * horizon_ms)
        days = {local_day(_utc(lo)), local_day(_utc(hi))}
        trips = Trips.concat([self.trips_of_day(d).starting_between(lo, hi) for d in sorted(days)])
        trips = trips.take(~np.isin(trips.bike, list(self.stolen_at_ms)))
        if len(trips) == 0:
            return None
        sample = trips.take(self.rng.choice(len(trips), size=min(len(trips), 64), replace=False))
        passes, at_ms = pass_times(sample, self.index, self.grid)
        ok = np.flatnonzero((at_ms < self.silent_from_ms[passes.station]) & (at_ms < start_ms + horizon_ms))
        if len(ok) == 0:
            return None
        i = int(self.rng.choice(ok))
        bike, dev, at = int(sample.bike[passes.route[i]]), int(passes.station[i]), int(at_ms[i]) + 300
        one = np.array([0], dtype=np.int64)
        ev = Events(one + at, one + dev, one, one + bike, one + CODE_TAMPER)
        return TamperTruth(bike + 1, self.fleet.tags[bike], self.device_ids[dev], _utc(at)), ev
