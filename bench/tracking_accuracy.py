"""Benchmark `tracking_accuracy`: recall and precision of each wearer and hazmat warning on a city the
tests never use, and the time from a missing-person report to its answer.

A city is generated with seed 2029 (the tests use 1-11), loaded into a fresh embedded platform,
and simulated wanderers (sim.wanderers: routines, exits, a wanderer gone missing, SOS presses,
falls, dying batteries, silent trackers, and jitter on a zone's edge as decoys) and tanker trips
(sim.tankers: off route, long stops, restricted zones, outside the window, speeding, a silent
terminal, a short delivery) are registered through the use cases (driver.tracking). Their reports
go through the platform's own rule engine as the device servers' records
(sim.trackrecords, mirroring ingest/adapters/tcp/records.py), in time order with the engine's
ticks (sim.replay), and the shipments depart and are delivered through their use case at their
times. NOT over TCP and not through the ingest pipeline: a simulated day at the speed of the
sockets would not fit the minute `BENCH_SIZE=small` has; tests/sim/test_tracked_live.py covers
the TCP path end to end with the same generators.

Findings are grouped as the alert service groups them and scored against the ground truth
(places.rules.accuracy, matched by the tracker each names, within `SLACK`): `recall_<kind>`,
`precision_<kind>` and `decoys_raised_<kind>` (jitter on the edge that some alert named; 0 is
right). Then the day's records are stored in the lake and a missing wanderer is reported missing
through the MissingPersons use case: `missing_report_to_area_ms` is the time to its answer, with
the last fix and the search area (median of `REPORTS` reports, each closed before the next).
BENCH_SIZE=small: the tiny city, 70 wanderers and 14 tankers; default: the demo city, 350 and 35.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.driver.tracking import perform, register_shipments, register_tankers, register_wanderers
from safecity.places.rules.accuracy import score
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.sim import generate_city, load_city
from safecity.sim.replay import incidents, raised_alerts, replay
from safecity.sim.tankers import Action, plan_tankers
from safecity.sim.tracked import truth_frame
from safecity.sim.trackrecords import tracker_records
from safecity.sim.wanderers import plan_wanderers
from safecity.tracking.missing import MissingPersons
from safecity.tracking.missing_schemas import FoundIn, MissingIn

SMALL = os.environ.get("BENCH_SIZE") == "small"
SCALE = "tiny" if SMALL else "demo"
SEED = 2029
HOURS = 24
WANDERERS, TANKERS, PLANTS = (70, 14, 2) if SMALL else (350, 35, 5)
START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday 08:00 in Wenzhou
SLACK = timedelta(minutes=20)
REPORTS = 5


def emit(metric: str, value: float | None, unit: str = "ratio", **extra: Any) -> None:
    print(
        json.dumps(
            {
                "bench": "tracking_accuracy",
                "metric": metric,
                "value": value,
                "unit": unit,
                "baseline": None,
                "ratio": None,
                "target": None,
                **extra,
            }
        ),
        flush=True,
    )


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    folder = Path(tempfile.mkdtemp(prefix="safecity-tracking-accuracy-"))
    clock = ManualClock(START - timedelta(hours=1))
    settings = Settings(data_dir=folder / "data")
    platform = Platform.build(settings, clock=clock)
    progress(f"generating the {SCALE} city (seed {SEED}), {WANDERERS} wanderers and {TANKERS} tankers")
    city = generate_city(seed=SEED, scale=SCALE, out_dir=folder / "city")
    load_city(city, platform.session_factory, pseudonymizer=platform.pseudonyms)
    wanderers = plan_wanderers(city, seed=SEED, start=START, hours=HOURS, count=WANDERERS, plants=PLANTS)
    tankers = plan_tankers(city, seed=SEED, start=START, hours=HOURS, count=TANKERS, plants=PLANTS)
    platform = Platform.build(settings, clock=clock)  # facts and rules read the loaded city
    wearer_ids = register_wanderers(platform, wanderers)
    shipment_ids = register_shipments(platform, tankers, register_tankers(platform, tankers))
    devices = {w.imei: (w.device_id, w.area_id) for w in wanderers.wanderers if w.n in wearer_ids}
    devices |= {t.phone: (t.device_id, t.origin_area) for t in tankers.tankers if t.n in shipment_ids}
    records = tracker_records(wanderers.emissions + tankers.emissions, devices)
    progress(f"replaying {len(records):,} records through the rules")
    due = list(tankers.actions)

    def act(now: datetime) -> None:  # departures and deliveries as their times pass
        while due and due[0].at <= now:
            action: Action = due.pop(0)
            perform(platform, action, shipment_ids)

    end = START + timedelta(hours=HOURS)
    findings = replay(
        platform.rules, records, start=START, end=end, set_clock=clock.set, every_tick=act, progress=progress
    )
    planted = truth_frame(wanderers.episodes + tankers.episodes)
    kinds = set(planted["rule_kind"])
    raised = [
        r
        for r in raised_alerts(findings)
        if r.rule_kind in kinds or r.rule_kind.startswith(("wearer_", "hazmat_"))
    ]
    for s in score(incidents(planted, platform.pseudonyms.pseudonym), raised, slack=SLACK):
        counts = {"planted": s.planted, "found": s.found, "raised": s.raised, "right": s.right}
        emit(f"recall_{s.rule_kind}", s.recall, **counts)
        emit(f"precision_{s.rule_kind}", s.precision, **counts)
    decoys = incidents(truth_frame(wanderers.decoys), platform.pseudonyms.pseudonym)
    for s in score(decoys, raised, slack=timedelta(0)):
        if s.planted:
            emit(f"decoys_raised_{s.rule_kind}", s.found, unit="count", decoys=s.planted)
    missing_report(platform, clock, records, wanderers, wearer_ids)


def missing_report(
    platform: Platform, clock: ManualClock, records: Any, wanderers: Any, wearer_ids: dict[int, int]
) -> None:
    """Store the day in the lake, then time reports of a missing wanderer to their answer."""
    platform.lake.append(records)
    missing = next(w for w in wanderers.wanderers if w.episode == "missing" and w.n in wearer_ids)
    use = platform.service(MissingPersons)
    took: list[float] = []
    for i in range(REPORTS):
        body = MissingIn(circumstances="did not come home from the market; grey coat (simulated)")
        started = time.perf_counter()
        report = use.report(SYSTEM, wearer_ids[missing.n], body, resource="bench")
        took.append((time.perf_counter() - started) * 1000)
        last = report.last_fix
        if last is None or report.search_area is None:
            raise SystemExit("the missing-person report came back without a last fix or a search area")
        found = FoundIn(lat=last.lat, lon=last.lon, note="found at the last fix (simulated)")
        use.found(SYSTEM, report.id, found, resource="bench")
        clock.set(clock.now() + timedelta(minutes=1 + i))
    emit(
        "missing_report_to_area_ms",
        round(statistics.median(took), 1),
        unit="ms",
        reports=REPORTS,
        path_fixes=len(report.path),
        max_ms=round(max(took), 1),
    )


if __name__ == "__main__":
    main()
