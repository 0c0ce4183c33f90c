"""The device simulator: the city's base stations reading bikes, in time order, batch by batch.

Simulated time advances in windows. Each window starts the trips that begin in it, turns
their station passes into reads (vectorised), adds heartbeats and planted incidents, and
releases every event whose station uploads before the window ends; the rest waits for the
next window. Nothing of a whole day is held at once beyond the day's trip table.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import structlog

from safecity.core.clock import utc
from safecity.sim import events as ev
from safecity.sim.city import City
from safecity.sim.incident import Planner, ReportStolen, Truth, truth_json
from safecity.sim.route import StationIndex
from safecity.sim.trips import Fleet, Trips, day_trips, local_day

log = structlog.get_logger(__name__)

_LOOKBACK_MS = 2 * 3600 * 1000  # no trip lasts longer: the first window starts trips this far back
_BATCH_WINDOW_MS = 120_000
_FRAME_WINDOW_MS = 600_000
_LIVE_WINDOW_MS = 20_000
_NEVER = np.iinfo(np.int64).max
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GROUND_TRUTH_FILE = "ground_truth.jsonl"
# Names of the trip kinds (trips.KIND_*): a thief's ride to the hideout, then the getaway.
TRIP_KINDS = ("morning", "evening", "errand", "errand_back", "theft_hideout", "theft_getaway")


@dataclass(slots=True)
class SimBatch:
    """What one station uploads at simulated time `at` (or, with device_id None, actions for the driver)."""

    device_id: str | None
    at_ms: int  # epoch milliseconds; a datetime per batch would cost more than the batch itself
    events: list[dict[str, Any]]
    actions: tuple[ReportStolen, ...] = ()

    @property
    def at(self) -> datetime:
        """The simulated time of the upload (or action), UTC."""
        return _EPOCH + timedelta(milliseconds=self.at_ms)


@dataclass
class _Stations:
    """Per-station timing, indexed like the devices table; times in epoch ms."""

    ids: list[str]
    hb_phase: np.ndarray
    hb_period: np.ndarray
    up_phase: np.ndarray
    up_period: np.ndarray
    silent_from: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _ms(when: datetime) -> int:
    return int(utc(when).timestamp() * 1000)


class Simulation:
    """Simulated stations of one city with planted incidents; see the module docstring.

    Incidents (`thefts`, `tampers`, `silent_stations`) are planted inside [start, start +
    horizon) and are off by default. `heartbeat_s` defaults to the city scale's period,
    `upload_s` is the range of the stations' upload intervals, `miss_rate` the share of
    passes a station misses. The ground truth is written to `ground_truth_path` (default:
    the city folder's ground_truth.jsonl) and kept in `ground_truth`; `actions` holds the
    `ReportStolen` actions the driver must carry out.
    """

    def __init__(
        self,
        city: City | Path,
        *,
        seed: int,
        start: datetime,
        speedup: float = 60.0,
        thefts: int = 0,
        tampers: int = 0,
        silent_stations: int = 0,
        horizon: timedelta = timedelta(hours=1),
        report_delay_s: tuple[float, float] = (420.0, 900.0),
        heartbeat_s: float | None = None,
        upload_s: tuple[float, float] = (1.0, 2.0),
        miss_rate: float = 0.03,
        ground_truth_path: Path | None = None,
    ) -> None:
        self.city = city if isinstance(city, City) else City.open(city)
        self.seed, self.start, self.speedup, self.horizon = seed, utc(start), speedup, horizon
        if thefts and horizon < timedelta(minutes=30):
            raise ValueError("thefts need a horizon of at least 30 minutes (theft, report, getaway)")
        self.grid, self.miss_rate = self.city.grid, miss_rate
        self.fleet = Fleet.from_tables(self.city.table("bikes"), self.city.table("routines"))
        devices = self.city.table("devices")
        self.index = StationIndex(devices["x"].to_numpy(), devices["y"].to_numpy(), self.grid)
        self._stations = self._make_stations(
            devices["id"].to_list(), heartbeat_s or self.city.scale.heartbeat_s, upload_s
        )
        self._device_ids = pl.Series(self._stations.ids, dtype=pl.String)
        self._tags = pl.Series([*self.fleet.tags, None], dtype=pl.String)
        self._days: dict[date, Trips] = {}
        self.actions: list[ReportStolen] = []
        self.ground_truth: list[Truth] = []
        self._stolen_at = np.full(self.fleet.size, _NEVER, dtype=np.int64)
        self._stolen_at_ms: dict[int, int] = {}
        self._extra_trips: list[Trips] = []
        self._injected = ev.Events.empty()
        self._plan(thefts, tampers, silent_stations, report_delay_s)
        self.ground_truth_path = ground_truth_path or self.city.out_dir / GROUND_TRUTH_FILE
        self._write_ground_truth()

    def _make_stations(self, ids: list[str], heartbeat_s: float, upload_s: tuple[float, float]) -> _Stations:
        keys = np.arange(len(ids), dtype=np.int64) + (np.int64(self.seed & 0xFFFFFFFF) << 24)
        hb_period = np.full(len(ids), int(heartbeat_s * 1000), dtype=np.int64)
        up_period = np.round((upload_s[0] + ev.uniform(keys, 12) * (upload_s[1] - upload_s[0])) * 1000)
        up_period = up_period.astype(np.int64)
        return _Stations(
            ids,
            np.floor(ev.uniform(keys, 11) * hb_period).astype(np.int64),
            hb_period,
            np.floor(ev.uniform(keys, 13) * up_period).astype(np.int64),
            up_period,
            np.full(len(ids), _NEVER, dtype=np.int64),
        )

    def _plan(self, thefts: int, tampers: int, silent: int, delay_s: tuple[float, float]) -> None:
        areas = self.city.table("areas")
        comm = areas.filter(pl.col("kind") == "community")
        bx, by = self.grid.blocks
        block_community = np.full((bx, by), -1, dtype=np.int64)
        for i, (x0, y0, x1, y1) in enumerate(comm.select("bx0", "by0", "bx1", "by1").iter_rows()):
            block_community[x0:x1, y0:y1] = i
        planner = Planner(
            fleet=self.fleet,
            grid=self.grid,
            index=self.index,
            device_ids=self._stations.ids,
            block_community=block_community,
            community_ids=comm["id"].to_list(),
            station_of_area=dict(zip(areas["id"].to_list(), areas["station_id"].to_list(), strict=True)),
            trips_of_day=self._trips_of_day,
            rng=np.random.default_rng([self.seed, 0x1C1D]),
            miss_rate=self.miss_rate,
            silent_from_ms=self._stations.silent_from,
        )
        start_ms, horizon_ms = _ms(self.start), int(self.horizon.total_seconds() * 1000)
        self.ground_truth += planner.silences(
            silent, start_ms, horizon_ms, self._stations.hb_phase, self._stations.hb_period
        )
        injected = [ev.Events.empty()]
        for _ in range(thefts):
            planned = planner.theft(start_ms, horizon_ms, delay_s)
            if planned is None:
                log.warning("no bike could be stolen", planned=len(self.actions), wanted=thefts)
                break
            truth, report, rides, reads = planned
            self.ground_truth.append(truth)
            self.actions.append(report)
            self._extra_trips.append(rides)
            injected.append(reads)
        for bike, at in planner.stolen_at_ms.items():
            self._stolen_at[bike] = at
        self._stolen_at_ms = dict(planner.stolen_at_ms)
        for _ in range(tampers):
            tampered = planner.tamper(start_ms, horizon_ms)
            if tampered is not None:
                self.ground_truth.append(tampered[0])
                injected.append(tampered[1])
        self.actions.sort(key=lambda a: a.at)
        self._injected = ev.Events.concat(injected).sorted()

    def _write_ground_truth(self) -> None:
        self.ground_truth_path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(truth_json(t), ensure_ascii=False, sort_keys=False) for t in self.ground_truth]
        self.ground_truth_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    @property
    def end(self) -> datetime:
        """End of the planned horizon (all planted incidents happen before it)."""
        return self.start + self.horizon

    def _trips_of_day(self, day: date) -> Trips:
        if day not in self._days:
            # Windows only ever look one day back: keep the day before and whatever lies ahead.
            for old in [d for d in self._days if d < date.fromordinal(day.toordinal() - 1)]:
                del self._days[old]
            self._days[day] = day_trips(self.fleet, self.grid, self.seed, day)
        return self._days[day]

    def _trips_starting(self, lo_ms: int, hi_ms: int) -> Trips:
        """Routine trips (minus those of stolen bikes after the theft) starting in [lo, hi)."""
        first = local_day(datetime.fromtimestamp(lo_ms / 1000, UTC))
        last = local_day(datetime.fromtimestamp(hi_ms / 1000, UTC))
        parts = [
            self._trips_of_day(date.fromordinal(o)).starting_between(lo_ms, hi_ms)
            for o in range(first.toordinal() - 1, last.toordinal() + 1)
        ]
        parts = [p for p in parts if len(p)] or parts[:1]
        trips = parts[0] if len(parts) == 1 else Trips.concat(parts)
        if not self._stolen_at_ms:
            return trips
        return trips.take(trips.start_ms < self._stolen_at[trips.bike])

    def _windows(
        self, start_ms: int, end_ms: int | None, window_ms: int, by_upload: bool
    ) -> Iterator[tuple[int, pl.DataFrame]]:
        """(window end, the events released in the window as an `ordered_frame`) per window."""
        st = self._stations
        pending, counters = ev.Events.empty(), np.full(len(st.ids), start_ms, dtype=np.int64)
        lo = start_ms
        while end_ms is None or lo < end_ms:
            hi = lo + window_ms if end_ms is None else min(lo + window_ms, end_ms)
            trips = self._trips_starting(lo - _LOOKBACK_MS if lo == start_ms else lo, hi)
            a, b = np.searchsorted(self._injected.ts_ms, [lo, hi])
            batch = ev.Events.concat(
                [
                    pending,
                    ev.trip_reads(trips, self.index, self.grid, self.miss_rate),
                    ev.heartbeats(lo, hi, st.hb_phase, st.hb_period),
                    self._injected.take(np.arange(a, b)),
                ]
            )
            keep = (batch.ts_ms >= start_ms) & (batch.ts_ms < st.silent_from[batch.dev])
            if end_ms is not None:
                keep &= batch.ts_ms < end_ms
            batch = batch.take(keep)
            due = ev.upload_ms(batch, st.up_phase, st.up_period) if by_upload else batch.ts_ms
            ready = due < hi if (end_ms is None or hi < end_ms) else np.ones(len(batch), dtype=bool)
            pending = batch.take(~ready)
            yield hi, ev.ordered_frame(batch.take(ready), due[ready], counters)
            lo = hi

    def _batch_windows(self, start_ms: int, end_ms: int | None, window_ms: int) -> Iterator[list[SimBatch]]:
        """Per window: the station uploads and driver actions, in time order."""
        actions = [
            a for a in self.actions if start_ms <= _ms(a.at) and (end_ms is None or _ms(a.at) < end_ms)
        ]
        for hi, out in self._windows(start_ms, end_ms, window_ms, by_upload=True):
            dicts = ev.wire_dicts(ev.wire_frame(out, self._device_ids, self._tags))
            due, dev_arr = out["due"].to_numpy(), out["dev"].to_numpy()
            cut = np.flatnonzero((np.diff(due) != 0) | (np.diff(dev_arr) != 0)) + 1
            starts = [0, *cut.tolist()] if dicts else []
            ends = [*starts[1:], len(dicts)]
            due_ms, dev, ids = due.tolist(), dev_arr.tolist(), self._stations.ids
            batches = [
                SimBatch(ids[dev[i]], due_ms[i], dicts[i:j]) for i, j in zip(starts, ends, strict=True)
            ]
            # A report goes after the uploads due at that very millisecond (their reads are older).
            while actions and _ms(actions[0].at) < hi:
                action = actions.pop(0)
                at = bisect.bisect_right([due_ms[i] for i in starts], _ms(action.at))
                batches.insert(at, SimBatch(None, _ms(action.at), [], (action,)))
            yield batches

    def iter_batches(self, start: datetime | None = None, end: datetime | None = None) -> Iterator[SimBatch]:
        """Station uploads and driver actions in time order, from start (default: the simulation's
        start) to end (default: the end of the planned horizon)."""
        start_ms, end_ms = _ms(start or self.start), _ms(end or self.end)
        for items in self._batch_windows(start_ms, end_ms, _BATCH_WINDOW_MS):
            yield from items

    def iter_event_frames(
        self, start: datetime | None = None, end: datetime | None = None, *, chunk_rows: int = 500_000
    ) -> Iterator[pl.DataFrame]:
        """The same events as wire-column frames in time order, about `chunk_rows` rows each."""
        start_ms, end_ms = _ms(start or self.start), _ms(end or self.end)
        held: list[pl.DataFrame] = []
        rows = 0
        for _, out in self._windows(start_ms, end_ms, _FRAME_WINDOW_MS, by_upload=False):
            held.append(ev.wire_frame(out, self._device_ids, self._tags))
            rows += out.height
            if rows >= chunk_rows:
                yield pl.concat(held)
                held, rows = [], 0
        if rows:
            yield pl.concat(held)

    def iter_ndjson(
        self, start: datetime | None = None, end: datetime | None = None, *, chunk_rows: int = 500_000
    ) -> Iterator[bytes]:
        """The same events as NDJSON bodies (one event per line), about `chunk_rows` lines each."""
        for frame in self.iter_event_frames(start, end, chunk_rows=chunk_rows):
            yield frame.write_ndjson().encode()

    async def run_live(
        self,
        send: Callable[[SimBatch], Awaitable[None]],
        *,
        speedup: float | None = None,
        stop_event: asyncio.Event | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        pace_from: datetime | None = None,
    ) -> int:
        """Send batches paced against the wall clock (simulated time runs `speedup` times faster)
        until `end` (default: forever) or until `stop_event` is set; returns the batches sent.

        Pacing starts at `pace_from` (default: `start`): batches before it are a backlog, sent
        as fast as they are taken, and the rest keep time from there.
        """
        rate = speedup or self.speedup
        stop = stop_event or asyncio.Event()
        loop = asyncio.get_running_loop()
        sim0 = _ms(start or self.start)
        paced0 = max(sim0, _ms(pace_from)) if pace_from else sim0
        windows = self._batch_windows(sim0, _ms(end) if end else None, _LIVE_WINDOW_MS)
        wall0, sent = loop.time(), 0
        upcoming = asyncio.ensure_future(asyncio.to_thread(next, windows, None))
        while not stop.is_set():
            items = await upcoming
            if items is None:
                break
            upcoming = asyncio.ensure_future(asyncio.to_thread(next, windows, None))  # generate ahead
            for batch in items:
                delay = wall0 + (batch.at_ms - paced0) / 1000 / rate - loop.time()
                if delay > 0.002:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                if stop.is_set():
                    break
                await send(batch)
                sent += 1
        upcoming.cancel()
        return sent

    def trips(self, start: datetime | None = None, end: datetime | None = None) -> pl.DataFrame:
        """Trips ridden between start and end with their waypoints, for inspection and tests."""
        start_ms, end_ms = _ms(start or self.start), _ms(end or self.end)
        parts = [self._trips_starting(start_ms - _LOOKBACK_MS, end_ms), *self._extra_trips]
        trips = Trips.concat(parts)
        ends = trips.end_ms(self.grid)
        trips = trips.take((ends >= start_ms) & (trips.start_ms < end_ms))
        ends = trips.end_ms(self.grid)
        return pl.DataFrame(
            {
                "bike_id": trips.bike + 1,
                "tag": self._tags.gather(trips.bike),
                "kind": pl.Series(trips.kind).replace_strict(
                    dict(enumerate(TRIP_KINDS)), return_dtype=pl.String
                ),
                "start_ms": trips.start_ms,
                "end_ms": ends,
                "lat": self.grid.lat(trips.wy).tolist(),
                "lon": self.grid.lon(trips.wx).tolist(),
            }
        )
