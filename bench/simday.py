"""Benchmark `simday`: days of 110 calls in the generated city played through the real dispatch code
(`sim.dispatchday`), one run per dispatch policy over the very same calls, compared by measured
arrival (call to the first unit on scene, in minutes).

* `mean_arrival_min` (one line per policy, with a `policy` field) and `p90_arrival_min`: over
  every call of every day. The baseline of the road-time policies is straight-line dispatch in
  the same run; road time must beat it (`ratio` above 1).
* `margin_pct` (per road-time policy): how much sooner than straight-line dispatch, in percent of
  its mean, with each day's own margin (`days_pct`) to show it holds day by day, the same for
  the 90th percentile, the share of calls that got another unit than straight-line dispatch
  sent, and how much sooner the first unit was there on those calls.

Full size: the `demo` city (12 x 9.6 km, two canals bridged every 1.6 km, 6 districts, 20
stations: 40 patrol cars, 20 foot patrols, 6 traffic motorcycles, 6 drones), 3 days of 480
calls. BENCH_SIZE=small: the `tiny`
city, one day of 80 calls. Progress on stderr. `make bench NAME=simday`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.roads import RoadData
from safecity.sim.city import ROADS_FILE, generate_city
from safecity.sim.dispatchday import POLICIES, plan_calls, play_day

SMALL = os.environ.get("BENCH_SIZE") == "small"
SCALE = "tiny" if SMALL else "demo"
DAYS = 1 if SMALL else 3
CALLS = 80 if SMALL else 480
FIRST_DAY = date(2026, 12, 1)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    """One JSON line; arrival times: lower is better, so the ratio is baseline / value."""
    print(
        json.dumps(
            {
                "bench": "simday",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(baseline / value, 3) if baseline and value else None,
                "target": None,
                **extra,
            },
            ensure_ascii=False,
        ),
        flush=True,
    )


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    with tempfile.TemporaryDirectory(prefix="safecity-simday-") as tmp:
        say(f"generating the {SCALE} city ...")
        city = generate_city(seed=7, scale=SCALE, out_dir=Path(tmp) / "city")
        network = RoadNetwork(RoadData.load(city.out_dir / ROADS_FILE))
        arrivals: dict[str, list[float]] = {p: [] for p in POLICIES}
        day_means: dict[str, list[float]] = {p: [] for p in POLICIES}
        sent: dict[str, list[list[str]]] = {p: [] for p in POLICIES}
        per_call: dict[str, list[float]] = {p: [] for p in POLICIES}  # arrival by call, all days
        extra: dict[str, dict[str, float]] = {p: {} for p in POLICIES}
        for d in range(DAYS):
            calls = plan_calls(city, network, count=CALLS, day=FIRST_DAY + timedelta(days=d), seed=100 + d)
            for policy in POLICIES:
                started = time.perf_counter()
                result = play_day(city, network, calls, policy)
                kpi = result.report.overall.call_to_arrival
                # The desk's own figure and the simulation's count must agree.
                if kpi.mean is None or abs(kpi.mean - result.mean_min) >= 0.01:
                    raise SystemExit(f"the desk's mean {kpi.mean} is not the simulation's {result.mean_min}")
                say(
                    f"day {d + 1}/{DAYS} {policy}: {result.calls} calls, {result.reached} reached, "
                    f"mean {result.mean_min:.2f} min, p90 {result.p90_min:.2f} min, "
                    f"{result.waited} waited for a unit, {result.moves} standby moves "
                    f"({time.perf_counter() - started:.0f} s)"
                )
                arrivals[policy] += result.arrivals_min
                day_means[policy].append(result.mean_min)
                if result.reached != result.calls:
                    raise SystemExit(f"{policy}: {result.calls - result.reached} calls never reached")
                sent[policy] += result.sent
                per_call[policy] += result.arrivals_min
                for key, value in (
                    ("calls", result.calls),
                    ("reached", result.reached),
                    ("waited", result.waited),
                    ("standby_moves", result.moves),
                    ("untrusted_fixes", result.untrusted_fixes),
                    ("wall_s", result.wall_s),
                ):
                    extra[policy][key] = extra[policy].get(key, 0) + value
    shape = {"city": SCALE, "days": DAYS, "calls_per_day": CALLS}
    straight = float(np.mean(arrivals["straight_line"]))
    straight_p90 = float(np.percentile(arrivals["straight_line"], 90))
    for policy in POLICIES:
        mean = float(np.mean(arrivals[policy]))
        p90 = float(np.percentile(arrivals[policy], 90))
        facts = {k: round(v, 1) for k, v in extra[policy].items()}
        road = policy != "straight_line"
        emit(
            "mean_arrival_min",
            mean,
            "min",
            baseline=straight if road else None,
            policy=policy,
            median_min=round(float(np.median(arrivals[policy])), 3),
            **facts,
            **shape,
        )
        emit("p90_arrival_min", p90, "min", baseline=straight_p90 if road else None, policy=policy, **shape)
        if road:
            days = [
                round(100 * (s - m) / s, 1)
                for s, m in zip(day_means["straight_line"], day_means[policy], strict=True)
            ]
            # The calls where this policy sent another unit than straight-line dispatch did, and
            # how much sooner (or later) the first unit came there.
            differ = [
                i for i, (a, b) in enumerate(zip(sent["straight_line"], sent[policy], strict=True)) if a != b
            ]
            gain = [per_call["straight_line"][i] - per_call[policy][i] for i in differ]
            emit(
                "margin_pct",
                100 * (straight - mean) / straight,
                "%",
                policy=policy,
                days_pct=days,
                p90_margin_pct=round(100 * (straight_p90 - p90) / straight_p90, 2),
                other_unit_share=round(len(differ) / len(sent[policy]), 3),
                sooner_there_min=round(float(np.mean(gain)), 3) if gain else None,
                **shape,
            )


if __name__ == "__main__":
    main()
