"""The device simulator: wire-valid events in time order, reads only where bikes really pass,
planted incidents whose ground truth holds, and the same events whichever way they are drawn."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.record import WireEvent
from safecity.security.pseudonym import Pseudonymizer
from safecity.sim import City, ReportStolen, SimBatch, Simulation, TamperTruth, TheftTruth, load_city
from safecity.sim.incident import SilenceTruth

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_WIRE = msgspec.json.Decoder(WireEvent)


def _ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="module")
def theft_run(
    tiny_city: City, morning: datetime, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Simulation, list[SimBatch]]:
    """One simulated morning hour of the tiny city with two planted thefts."""
    sim = Simulation(
        tiny_city,
        seed=2,
        start=morning,
        thefts=2,
        horizon=timedelta(hours=1),
        ground_truth_path=tmp_path_factory.mktemp("truth") / "ground_truth.jsonl",
    )
    return sim, list(sim.iter_batches())


def _events(batches: list[SimBatch]) -> list[dict]:
    return [e for b in batches for e in b.events]


def test_events_validate_against_the_wire_struct(theft_run: tuple[Simulation, list[SimBatch]]) -> None:
    events = _events(theft_run[1])
    assert {e["kind"] for e in events} == {"rfid_read", "heartbeat"}
    for event in events:
        decoded = _WIRE.decode(msgspec.json.encode(event))
        assert decoded.v == 1
        assert set(event) <= {"v", "id", "kind", "device", "ts", "subject", "code"}
        assert TS_RE.match(event["ts"])
        assert event["id"].startswith(event["device"] + "-")
        assert "lat" not in event
        assert ("subject" in event) == (event["kind"] == "rfid_read")
    assert len({e["id"] for e in events}) == len(events)


def test_batches_are_per_station_uploads_in_time_order(theft_run: tuple[Simulation, list[SimBatch]]) -> None:
    sim, batches = theft_run
    assert [b.at_ms for b in batches] == sorted(b.at_ms for b in batches)
    for batch in batches:
        if batch.device_id is None:
            assert batch.actions
            assert not batch.events
            continue
        assert batch.events
        for event in batch.events:
            assert event["device"] == batch.device_id
            assert 0 <= batch.at_ms - _ms(event["ts"]) <= 2000  # stations upload every 1-2 s
    assert batches[0].at >= sim.start
    assert batches[-1].at_ms <= int(sim.end.timestamp() * 1000) + 2000


def test_heartbeats_come_every_period_from_every_station(
    theft_run: tuple[Simulation, list[SimBatch]], tiny_city: City
) -> None:
    beats: dict[str, list[int]] = {}
    for event in _events(theft_run[1]):
        if event["kind"] == "heartbeat":
            beats.setdefault(event["device"], []).append(_ms(event["ts"]))
    assert len(beats) == tiny_city.counts["base_stations"]
    for times in beats.values():
        assert len(times) == 60
        assert {b - a for a, b in zip(times, times[1:], strict=False)} == {60_000}


def _metres(city: City, lat: float, lon: float) -> tuple[float, float]:
    box = city.bbox
    return (lon - box.west) * 111_195 * math.cos(math.radians(lat)), (lat - box.south) * 111_195


def _distance_to_path_m(
    city: City, point: tuple[float, float], lats: list[float], lons: list[float]
) -> float:
    px, py = _metres(city, *point)
    best = math.inf
    path = [_metres(city, la, lo) for la, lo in zip(lats, lons, strict=True)]
    for (ax, ay), (bx, by) in zip(path, path[1:], strict=False):
        dx, dy = bx - ax, by - ay
        t = (
            0.0
            if dx == dy == 0
            else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        )
        best = min(best, math.hypot(px - ax - t * dx, py - ay - t * dy))
    return best


def test_reads_happen_only_at_stations_on_the_bikes_paths(
    theft_run: tuple[Simulation, list[SimBatch]], tiny_city: City
) -> None:
    sim, batches = theft_run
    stations = {r["id"]: (r["lat"], r["lon"]) for r in tiny_city.table("devices").iter_rows(named=True)}
    trips: dict[str, list[dict]] = {}
    for trip in sim.trips().iter_rows(named=True):
        trips.setdefault(trip["tag"], []).append(trip)
    reads = [e for e in _events(batches) if e["kind"] == "rfid_read"]
    assert len(reads) > 50
    for read in reads:
        ts = _ms(read["ts"])
        # A read falls within the ~12 s a tag spends in range, around the moment of passing.
        riding = [t for t in trips[read["subject"]] if t["start_ms"] - 15_000 <= ts <= t["end_ms"] + 15_000]
        assert riding, f"read {read['id']} of a bike that was not riding"
        nearest = min(
            _distance_to_path_m(tiny_city, stations[read["device"]], t["lat"], t["lon"]) for t in riding
        )
        assert nearest <= 30.0, f"{read['device']} is {nearest:.0f} m from the path of {read['subject']}"


def test_planted_theft_is_read_after_the_report_at_its_ground_truth_station(
    theft_run: tuple[Simulation, list[SimBatch]],
) -> None:
    sim, batches = theft_run
    thefts = [t for t in sim.ground_truth if isinstance(t, TheftTruth)]
    assert len(thefts) == 2
    for truth in thefts:
        assert truth.stolen_at < truth.reported_at < truth.alarm_read_at < sim.end
        report_at = next(i for i, b in enumerate(batches) for a in b.actions if a.tag == truth.tag)
        report = batches[report_at].actions[0]
        assert isinstance(report, ReportStolen)
        assert (report.bike_id, report.at) == (truth.bike_id, truth.reported_at)
        reported_ms = int(truth.reported_at.timestamp() * 1000)
        later = [
            (i, e)
            for i, b in enumerate(batches)
            for e in b.events
            if e.get("subject") == truth.tag and _ms(e["ts"]) > reported_ms
        ]
        assert later, "the stolen tag is read after the report"
        first_batch, first = later[0]
        assert first["device"] == truth.alarm_station
        assert _ms(first["ts"]) == int(truth.alarm_read_at.timestamp() * 1000)
        assert first_batch > report_at
        before = [e for b in batches[:report_at] for e in b.events if e.get("subject") == truth.tag]
        assert all(_ms(e["ts"]) < reported_ms for e in before)
        assert len(truth.getaway_passes) >= 2


def test_stolen_bike_rides_no_routine_trips_after_the_theft(
    theft_run: tuple[Simulation, list[SimBatch]],
) -> None:
    sim, _ = theft_run
    trips = sim.trips()
    for truth in (t for t in sim.ground_truth if isinstance(t, TheftTruth)):
        stolen_ms = int(truth.stolen_at.timestamp() * 1000)
        after = trips.filter((pl.col("tag") == truth.tag) & (pl.col("start_ms") >= stolen_ms))
        assert after.height == 2  # to the hideout, then the getaway


def test_ground_truth_is_written_as_json_lines(theft_run: tuple[Simulation, list[SimBatch]]) -> None:
    sim, _ = theft_run
    lines = sim.ground_truth_path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["kind"] for r in records] == ["theft", "theft"]
    assert {r["tag"] for r in records} == {t.tag for t in sim.ground_truth if isinstance(t, TheftTruth)}
    assert all(r["reported_at"].endswith("Z") for r in records)


def test_incidents_are_off_by_default(tiny_city: City, morning: datetime, tmp_path: Path) -> None:
    sim = Simulation(
        tiny_city,
        seed=2,
        start=morning,
        horizon=timedelta(minutes=20),
        ground_truth_path=tmp_path / "gt.jsonl",
    )
    events = [e for b in sim.iter_batches() for e in b.events]
    assert sim.ground_truth == []
    assert sim.actions == []
    assert not any("code" in e for e in events)
    assert (tmp_path / "gt.jsonl").read_text() == ""


def test_tamper_and_silent_station_follow_their_ground_truth(
    tiny_city: City, morning: datetime, tmp_path: Path
) -> None:
    sim = Simulation(
        tiny_city,
        seed=4,
        start=morning,
        tampers=1,
        silent_stations=1,
        horizon=timedelta(hours=1),
        ground_truth_path=tmp_path / "gt.jsonl",
    )
    events = [e for b in sim.iter_batches() for e in b.events]
    tamper = next(t for t in sim.ground_truth if isinstance(t, TamperTruth))
    flagged = [e for e in events if e.get("code") == "tamper"]
    assert [(e["device"], e["subject"], _ms(e["ts"])) for e in flagged] == [
        (tamper.device, tamper.tag, int(tamper.at.timestamp() * 1000))
    ]
    silence = next(t for t in sim.ground_truth if isinstance(t, SilenceTruth))
    silent_ms = int(silence.silent_from.timestamp() * 1000)
    from_station = [_ms(e["ts"]) for e in events if e["device"] == silence.device]
    assert max(from_station) < silent_ms
    assert silence.last_heartbeat_at is not None
    beats = [_ms(e["ts"]) for e in events if e["device"] == silence.device and e["kind"] == "heartbeat"]
    assert max(beats) == int(silence.last_heartbeat_at.timestamp() * 1000)


def test_same_seed_gives_the_same_events(tiny_city: City, morning: datetime, tmp_path: Path) -> None:
    def run() -> list[dict]:
        sim = Simulation(
            tiny_city,
            seed=9,
            start=morning,
            thefts=1,
            horizon=timedelta(minutes=40),
            ground_truth_path=tmp_path / "gt.jsonl",
        )
        return [e for b in sim.iter_batches() for e in b.events]

    assert run() == run()


def test_event_frames_and_ndjson_hold_the_same_events_as_the_batches(
    theft_run: tuple[Simulation, list[SimBatch]],
) -> None:
    sim, batches = theft_run
    frames = list(sim.iter_event_frames(chunk_rows=500))
    assert len(frames) > 1
    frame = pl.concat(frames)
    assert frame["ts"].to_list() == sorted(frame["ts"].to_list())
    from_batches = sorted((e["id"], e["ts"], e.get("subject")) for e in _events(batches))
    assert sorted(zip(frame["id"], frame["ts"], frame["subject"], strict=True)) == from_batches
    lines = b"".join(sim.iter_ndjson(chunk_rows=1000)).splitlines()
    assert len(lines) == frame.height
    assert all(isinstance(_WIRE.decode(line), WireEvent) for line in lines[:200])


async def test_run_live_sends_the_same_batches_paced_by_speedup(
    theft_run: tuple[Simulation, list[SimBatch]],
) -> None:
    sim, batches = theft_run
    end = sim.start + timedelta(minutes=5)
    sent: list[SimBatch] = []

    async def send(batch: SimBatch) -> None:
        sent.append(batch)

    loop = asyncio.get_running_loop()
    began = loop.time()
    count = await sim.run_live(send, speedup=600.0, end=end)  # 5 simulated minutes in 0.5 s
    elapsed = loop.time() - began
    expected = list(sim.iter_batches(end=end))
    assert count == len(sent) == len(expected)
    assert [(b.device_id, b.at_ms, b.events) for b in sent] == [
        (b.device_id, b.at_ms, b.events) for b in expected
    ]
    assert all(b.at <= end + timedelta(seconds=2) for b in sent)
    assert 0.45 <= elapsed < 2.5


async def test_run_live_sends_the_backlog_before_pace_from_at_once_then_keeps_time(
    theft_run: tuple[Simulation, list[SimBatch]],
) -> None:
    sim, _ = theft_run
    pace_from, end = sim.start + timedelta(minutes=30), sim.start + timedelta(minutes=31)
    sent: list[tuple[float, SimBatch]] = []
    loop = asyncio.get_running_loop()

    async def send(batch: SimBatch) -> None:
        sent.append((loop.time(), batch))

    began = loop.time()
    # 30 simulated minutes of backlog, then 1 minute at 60x: about 1 s in all, not 31.
    count = await sim.run_live(send, speedup=60.0, end=end, pace_from=pace_from)
    elapsed = loop.time() - began
    assert count == len(sent) == len(list(sim.iter_batches(end=end)))
    backlog = [t for t, b in sent if b.at < pace_from]
    live = [(t, b) for t, b in sent if b.at >= pace_from + timedelta(seconds=30)]
    assert backlog and live
    assert max(backlog) - began < 0.9  # the backlog did not wait
    # A batch half a simulated minute after pace_from waits about half a second at 60x.
    assert all(t - began >= 0.45 for t, _ in live)
    assert 0.9 <= elapsed < 4


async def test_run_live_stops_when_told(theft_run: tuple[Simulation, list[SimBatch]]) -> None:
    sim, _ = theft_run
    stop = asyncio.Event()
    sent: Counter[str] = Counter()

    async def send(batch: SimBatch) -> None:
        sent[batch.device_id or "action"] += 1
        if sum(sent.values()) == 3:
            stop.set()

    count = await asyncio.wait_for(sim.run_live(send, speedup=60.0, stop_event=stop), timeout=10)
    assert count == 3


def test_report_actions_list_the_stolen_tags_in_the_registry(
    theft_run: tuple[Simulation, list[SimBatch]],
    tiny_city: City,
    session_factory: sessionmaker[Session],
    pseudonymizer: Pseudonymizer,
) -> None:
    sim, batches = theft_run
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    for action in (a for b in batches for a in b.actions):
        with session_factory() as session, session.begin():
            registry.report_stolen(
                session,
                bike_id=action.bike_id,
                reported_by=action.reported_by,
                basis=action.basis,
                owner=action.station_id or "sim",
                owner_station_id=action.station_id,
                now=action.at,
            )
    with session_factory() as session:
        listed = registry.active_watchlist(session, now=sim.end)
    assert sorted(listed["subject"]) == sorted(t.tag for t in sim.ground_truth if isinstance(t, TheftTruth))
