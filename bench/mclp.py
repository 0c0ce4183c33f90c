"""Benchmark `mclp`: where to stand 50 units among 500 candidate posts to cover the most of 10,000
demand points within the response standard (the maximal covering location problem).

On the real Helsinki city-centre extract (standard: 1 minute, the centre is small) and on the
generated ~100,000-junction network (standard: 5 minutes). Demand is clustered as calls are (70 %
around 40 hot spots, the rest anywhere on the roads); the posts are random places on the roads.
On the generated network both stay within 9 km of its centre (a city, not the whole lattice).

* `cover_matrix_s`: which posts reach which points within the standard (`RoadNetwork.cover`: one
  bounded search per post). Both solvers start from it; the live desk computes it each time.
* `mclp_heuristic_s` (target under 5 s): greedy + interchange (`dispatch.mclp.heuristic`).
* `mclp_exact_s`: the integer programme to optimality with HiGHS (`dispatch.mclp.exact`).
* `mclp_gap_pct` (target under 1 %): how far the heuristic's cover falls short of the optimum.
  Its baseline is greedy alone (no interchange), in the same run.

Prints JSON lines (one per figure and network); progress on stderr. BENCH_SIZE=small: 2,000
points, 150 posts, 15 units. `make bench NAME=mclp`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np
import structlog

from _roads import networks, places
from safecity.dispatch.mclp import Problem, exact, gap_pct, heuristic
from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.roads import Band

SMALL = os.environ.get("BENCH_SIZE") == "small"
POINTS = 2_000 if SMALL else 10_000
POSTS = 150 if SMALL else 500
UNITS = 15 if SMALL else 50
STANDARD_S = {"helsinki": 30.0, "generated_100k": 180.0}
REGION_M = {"helsinki": None, "generated_100k": 12_000.0}  # the city: demand and posts within this
HOT_SPOTS = 40
BAND = Band.DAY
EXACT_LIMIT_S = 600.0
TARGETS = {"mclp_heuristic_s": 5.0, "mclp_gap_pct": 1.0}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    ratio = None
    if baseline is not None and value:
        ratio = round(baseline / value, 1)
    print(
        json.dumps(
            {
                "bench": "mclp",
                "metric": metric,
                "value": round(value, 4),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 4),
                "ratio": ratio,
                "target": TARGETS.get(metric),
                **extra,
            }
        ),
        flush=True,
    )


def demand(net: RoadNetwork, rng: np.random.Generator, region: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Clustered demand: most points on the roads near hot spots, the rest anywhere in the city."""
    hot = int(POINTS * 0.7)
    spot_seg, _ = places(net, rng, HOT_SPOTS, within_m=region)
    d = net.data
    mid_lat = (d.node_lat[d.seg_from] + d.node_lat[d.seg_to]) / 2
    mid_lon = (d.node_lon[d.seg_from] + d.node_lon[d.seg_to]) / 2
    spread_m = 400.0 if net.report.routable_nodes < 10_000 else 1_500.0
    lat = mid_lat[spot_seg][rng.integers(0, HOT_SPOTS, hot)] + rng.normal(0, spread_m / 111_195, hot)
    lon = mid_lon[spot_seg][rng.integers(0, HOT_SPOTS, hot)]
    lon = lon + rng.normal(0, spread_m / 111_195 / np.cos(np.radians(lat)), hot)
    near, _ = net.snap_many(lat, lon)
    seg = [p.segment for p in near if p is not None]
    frac = [p.fraction for p in near if p is not None]
    rest_seg, rest_frac = places(net, rng, POINTS - len(seg), within_m=region)
    return np.concatenate([seg, rest_seg]).astype(np.int64), np.concatenate([frac, rest_frac])


def greedy_only(problem: Problem) -> float:
    """The baseline: greedy by marginal cover, no interchange."""
    return heuristic(problem, starts=1, max_rounds=0).covered


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    for name, data in networks():
        net = RoadNetwork(data)
        standard = STANDARD_S[name]
        rng = np.random.default_rng(2027)
        points = demand(net, rng, REGION_M[name])
        posts = places(net, rng, POSTS, within_m=REGION_M[name])
        net.seconds(BAND)
        say(f"{name}: {POINTS:,} demand points, {POSTS} posts, {UNITS} units, standard {standard:.0f} s")
        start = time.perf_counter()
        cover = net.cover(posts, points, BAND, limit_s=standard)
        matrix_s = time.perf_counter() - start
        weights = np.ones(POINTS)
        problem = Problem(cover, weights, UNITS)
        shape = {"network": name, "points": POINTS, "posts": POSTS, "units": UNITS, "standard_s": standard}
        emit("cover_matrix_s", matrix_s, "s", reached_pairs=int(cover.nnz), **shape)
        found = heuristic(problem)
        greedy = greedy_only(problem)
        say(
            f"  heuristic: {found.share:.1%} covered in {found.seconds:.2f} s; "
            f"greedy alone {greedy / POINTS:.1%}"
        )
        emit("mclp_heuristic_s", found.seconds, "s", covered_share=round(found.share, 4), **shape)
        say(f"  exact (HiGHS, up to {EXACT_LIMIT_S:.0f} s) ...")
        best = exact(problem, time_limit_s=EXACT_LIMIT_S)
        say(f"  exact: {best.share:.1%} covered in {best.seconds:.2f} s (optimal: {best.optimal})")
        emit(
            "mclp_exact_s",
            best.seconds,
            "s",
            covered_share=round(best.share, 4),
            optimal=best.optimal,
            bound_share=round(best.bound / best.total, 4),
            **shape,
        )
        greedy_gap = 100.0 * max(0.0, best.covered - greedy) / best.covered if best.covered else 0.0
        emit(
            "mclp_gap_pct",
            gap_pct(found, best),
            "%",
            baseline=greedy_gap,
            baseline_is="greedy alone",
            **shape,
        )


if __name__ == "__main__":
    main()
