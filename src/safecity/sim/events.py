"""What the stations send: tag reads from bikes passing, heartbeats, and the upload schedule.

Random choices here come from a counter-based hash of stable keys (trip, pass, station),
not from a stream generator, so the same simulated period gives the same events however it
is cut into windows (a live run and a batch run agree event for event).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from safecity.core.record import WIRE_VERSION
from safecity.sim.grid import FloatArray, Grid, IntArray
from safecity.sim.route import Passes, StationIndex
from safecity.sim.trips import Trips

U64 = npt.NDArray[np.uint64]
KIND_READ, KIND_HEARTBEAT = 0, 1
CODE_NONE, CODE_TAMPER = 0, 1
KIND_NAMES = ("rfid_read", "heartbeat")
READ_RANGE_M = 30.0  # an RFID station reads tags within about 30 m
NO_BIKE = -1


def mix(values: U64) -> U64:
    """splitmix64 finaliser: a fast, well-spread 64-bit hash, vectorised."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(keys: IntArray | U64, salt: int) -> FloatArray:
    """A uniform [0, 1) number per key, different for each salt."""
    with np.errstate(over="ignore"):
        h = mix(mix(keys.astype(np.uint64) ^ np.uint64(salt * 0x632BE59BD9B4E019 & 0xFFFFFFFFFFFFFFFF)))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(frozen=True, slots=True)
class Events:
    """Events as columns: epoch ms, station index, kind, bike index (or -1), code."""

    ts_ms: IntArray
    dev: IntArray
    kind: IntArray
    bike: IntArray
    code: IntArray

    def __len__(self) -> int:
        return len(self.ts_ms)

    @staticmethod
    def empty() -> Events:
        """No events."""
        z = np.zeros(0, dtype=np.int64)
        return Events(z, z, z, z, z)

    def take(self, idx: IntArray | npt.NDArray[np.bool_]) -> Events:
        """The events at positions `idx` (or where a mask is true)."""
        return Events(self.ts_ms[idx], self.dev[idx], self.kind[idx], self.bike[idx], self.code[idx])

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        """Join event sets (unsorted)."""
        return Events(*(np.concatenate([getattr(p, f) for p in parts]) for f in Events.__slots__))

    def sorted(self) -> Events:
        """Sorted by time, then station, kind and bike, so that ties break the same way every run."""
        return self.take(np.lexsort((self.bike, self.kind, self.dev, self.ts_ms)))


def reads_from_passes(
    pass_ms: IntArray,
    station: IntArray,
    bike: IntArray,
    pass_key: IntArray,
    speed_mps: FloatArray,
    miss_rate: float | FloatArray,
) -> Events:
    """1-3 reads per pass spread over the time the tag is in range; a few passes are missed."""
    n_reads = 1 + np.minimum((uniform(pass_key, 2) * 3).astype(np.int64), 2)
    n_reads[uniform(pass_key, 1) < miss_rate] = 0
    rep = np.repeat(np.arange(len(pass_ms)), n_reads)
    ordinal = np.arange(len(rep)) - np.repeat(np.cumsum(n_reads) - n_reads, n_reads)
    read_key = pass_key[rep].astype(np.uint64) * np.uint64(4) + ordinal.astype(np.uint64)
    half_window_ms = READ_RANGE_M / speed_mps[rep] * 1000
    ts = pass_ms[rep] + np.round((uniform(read_key, 3) * 2 - 1) * half_window_ms).astype(np.int64)
    z = np.zeros(len(rep), dtype=np.int64)
    return Events(ts, station[rep], z + KIND_READ, bike[rep], z + CODE_NONE)


def heartbeats(lo_ms: int, hi_ms: int, phase_ms: IntArray, period_ms: IntArray) -> Events:
    """Heartbeats of every station in [lo_ms, hi_ms): at phase + k * period."""
    first = -(-(lo_ms - phase_ms) // period_ms)
    last = -(-(hi_ms - phase_ms) // period_ms)
    counts = np.maximum(last - first, 0)
    dev = np.repeat(np.arange(len(phase_ms), dtype=np.int64), counts)
    k = np.repeat(first, counts) + np.arange(len(dev)) - np.repeat(np.cumsum(counts) - counts, counts)
    ts = phase_ms[dev] + k * period_ms[dev]
    z = np.zeros(len(dev), dtype=np.int64)
    return Events(ts, dev, z + KIND_HEARTBEAT, z + NO_BIKE, z + CODE_NONE)


def upload_ms(ev: Events, phase_ms: IntArray, period_ms: IntArray) -> IntArray:
    """When each event leaves its station: at the station's next upload tick (ts <= tick)."""
    ph, per = phase_ms[ev.dev], period_ms[ev.dev]
    return ph + (-(-(ev.ts_ms - ph) // per)) * per


def ordered_frame(ev: Events, due_ms: IntArray, counters: IntArray) -> pl.DataFrame:
    """Events sorted by (due, station, time) with per-station running numbers; advances `counters`.

    Sorting and numbering run in Polars (multi-threaded); per station, due times rise with
    event times, so the numbers follow each station's own time order in either mode.
    """
    frame = pl.DataFrame(
        {
            "due": due_ms,
            "dev": ev.dev,
            "ts_ms": ev.ts_ms,
            "kind": ev.kind,
            "bike": ev.bike,
            "code": ev.code,
            "seq": counters[ev.dev],
        }
    )
    frame = frame.sort("due", "dev", "ts_ms", "kind", "bike").with_columns(
        pl.col("seq") + pl.int_range(pl.len(), dtype=pl.Int64).over("dev")
    )
    counters += np.bincount(ev.dev, minlength=len(counters))
    return frame


def wire_frame(ordered: pl.DataFrame, device_ids: pl.Series, tags: pl.Series) -> pl.DataFrame:
    """Wire columns (v, id, kind, ts, device, subject, code) of an `ordered_frame`, same order."""
    device = device_ids.gather(ordered["dev"])
    bike = ordered["bike"].to_numpy()
    subject = tags.gather(np.where(bike >= 0, bike, len(tags) - 1))  # the last tag entry is null
    return ordered.select(
        v=pl.lit(WIRE_VERSION, pl.Int64),
        id=pl.concat_str(pl.lit(device), pl.lit("-"), pl.col("seq").cast(pl.String)),
        kind=pl.col("kind").replace_strict(
            list(range(len(KIND_NAMES))), list(KIND_NAMES), return_dtype=pl.String
        ),
        ts=pl.from_epoch("ts_ms", time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        device=pl.lit(device),
        subject=pl.lit(subject),
        code=pl.when(pl.col("code") == CODE_TAMPER).then(pl.lit("tamper")).otherwise(pl.lit(None, pl.String)),
    )


def wire_dicts(frame: pl.DataFrame) -> list[dict[str, object]]:
    """Wire events as dicts, leaving out the fields an event does not have (as devices do)."""
    out: list[dict[str, object]] = []
    for v, id_, kind, ts, device, subject, code in frame.iter_rows():
        event: dict[str, object] = {"v": v, "id": id_, "kind": kind, "device": device, "ts": ts}
        if subject is not None:
            event["subject"] = subject
        if code is not None:
            event["code"] = code
        out.append(event)
    return out


def pass_times(trips: Trips, index: StationIndex, grid: Grid) -> tuple[Passes, IntArray]:
    """Stations each trip passes and when (epoch ms)."""
    passes = index.passes(trips.wx, trips.wy)
    travel_ms = passes.dist_units * grid.unit_m / trips.speed_mps[passes.route] * 1000
    return passes, trips.start_ms[passes.route] + np.round(travel_ms).astype(np.int64)


def trip_reads(trips: Trips, index: StationIndex, grid: Grid, miss_rate: float) -> Events:
    """Every read the stations make of these trips' bikes."""
    passes, at_ms = pass_times(trips, index, grid)
    # 1,024 passes per trip at most keeps keys distinct (a 16 km ride passes < 100 stations).
    key = trips.key[passes.route] * 1024 + passes.ordinal
    return reads_from_passes(
        at_ms, passes.station, trips.bike[passes.route], key, trips.speed_mps[passes.route], miss_rate
    )
