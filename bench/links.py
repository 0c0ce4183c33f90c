"""Benchmark `links` (issue 13's `links_ms`): two hops around one person in a graph of 5 million edges.

The graph is shaped like a city's registries: people with a phone and an identity card each, a
flat they rent (a few people to a flat, flats in compounds), a third with an e-bike, a fifth
with a car, and alerts about bikes and plates. It is built by the workbench's own code
(`links.Graph` from `core.entities.Edge`s, as `Links.graph()` builds it from the registries),
then asked:

* `links_ms`: p99 of `links.expand(..., hops=2)` around 200 random people (median reported too).
  Baseline: the same two hops as SQL over an indexed edge table in SQLite (what a table-backed
  graph would do); `ratio` = SQL / graph.
* `connection_ms`: p99 of the shortest connection (up to 6 links) between 25 people and someone
  three links away, and between 25 pairs of random people.
* `links_build_s`: building the graph from the edges.

Full size: 5,000,000 edges. BENCH_SIZE=small: 200,000 (seconds). Progress on stderr.
`make bench NAME=links`.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from safecity.core.entities import Edge, node
from safecity.workbench.links import Graph, expand, shortest

TARGETS = {"links_ms": 200.0}
SINCE = datetime(2025, 1, 1, tzinfo=UTC)


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    ratio = round(baseline / value, 1) if baseline is not None and value else None
    row = {
        "bench": "links",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
        "target": TARGETS.get(metric),
        **extra,
    }
    print(json.dumps(row), flush=True)


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * min(done, total) / max(total, 1))
    sys.stderr.write(f"\r{label:<8} [{'#' * filled}{'.' * (width - filled)}] {min(done, total):,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def edges(total: int, seed: int = 3) -> tuple[int, Iterator[Edge]]:
    """About `total` edges; the number of people."""
    people = int(total / 3.3)  # phone, card, tenancy, and a share of bikes, cars and alerts each
    rng = random.Random(seed)

    def generate() -> Iterator[Edge]:
        flats = max(1, people // 3)
        made = 0
        for p in range(people):
            who = node("person", p)
            day = SINCE + timedelta(days=rng.randrange(600))
            yield Edge(who, node("phone", f"1{rng.randrange(10**10):010d}"), "phone", "people", day)
            yield Edge(who, node("card", f"1.{p:x}"), "identity card", "people", day)
            flat = rng.randrange(flats)
            yield Edge(who, node("flat", flat), "tenant of", "tenancies", day)
            made += 3
            if rng.random() < 0.3:
                tag = f"E{p:09X}"
                yield Edge(who, node("ebike", tag), "owns", "ebikes", day)
                made += 1
                if rng.random() < 0.1:
                    yield Edge(node("alert", f"A{p}"), node("ebike", tag), "about", "alerts", day)
                    made += 1
            if rng.random() < 0.2:
                yield Edge(who, node("plate", f"浙C{p:06d}"), "keeps", "vehicles", day)
                made += 1
            if p < flats:
                yield Edge(node("flat", p), node("compound", p // 400), "in", "buildings", None)
                made += 1
            if p % 50_000 == 0 and made < total:
                progress("graph", made, total)
        progress("graph", total, total)

    return people, generate()


def sql_two_hops(con: sqlite3.Connection, start: str) -> int:
    one = [
        r[0]
        for r in con.execute("SELECT b FROM e WHERE a = ? UNION SELECT a FROM e WHERE b = ?", (start, start))
    ]
    marks = ",".join("?" * len(one))
    two = con.execute(
        f"SELECT b FROM e WHERE a IN ({marks}) UNION SELECT a FROM e WHERE b IN ({marks})",  # noqa: S608
        one + one,
    ).fetchall()
    return len(one) + len(two)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def main() -> None:
    small = os.environ.get("BENCH_SIZE") == "small"
    total = 200_000 if small else 5_000_000
    people, generated = edges(total)
    started = time.perf_counter()
    all_edges = list(generated)
    graph = Graph(all_edges)
    build_s = time.perf_counter() - started
    rng = random.Random(5)
    starts = [node("person", rng.randrange(people)) for _ in range(200)]
    expand(graph, starts[0], hops=2)  # warm
    times, sizes = [], []
    for start in starts:
        t0 = time.perf_counter()
        seen, found, _ = expand(graph, start, hops=2)
        times.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(seen))
    # Half the pairs are connected (a person and someone three links away: a flatmate's bike, a
    # neighbour in the compound), half are two random people (mostly not within six links).
    pairs = []
    for start in starts[:25]:
        seen, _, _ = expand(graph, start, hops=3)
        far = [n for n, hops in seen.items() if hops == 3] or [start]
        pairs.append((start, rng.choice(sorted(far))))
    pairs += [
        (node("person", rng.randrange(people)), node("person", rng.randrange(people))) for _ in range(25)
    ]
    paths, connected = [], 0
    for a, b in pairs:
        t0 = time.perf_counter()
        connected += shortest(graph, a, b) is not None
        paths.append((time.perf_counter() - t0) * 1000)

    with tempfile.TemporaryDirectory() as folder:
        con = sqlite3.connect(Path(folder) / "edges.db")
        con.execute("CREATE TABLE e (a TEXT, b TEXT, relation TEXT, source TEXT, since TEXT)")
        con.executemany(
            "INSERT INTO e VALUES (?, ?, ?, ?, ?)",
            ((e.a, e.b, e.relation, e.source, e.since and e.since.isoformat()) for e in all_edges),
        )
        con.execute("CREATE INDEX e_a ON e (a)")
        con.execute("CREATE INDEX e_b ON e (b)")
        con.commit()
        sql_times = []
        for start in starts[:50]:
            t0 = time.perf_counter()
            sql_two_hops(con, start)
            sql_times.append((time.perf_counter() - t0) * 1000)
        con.close()

    emit(
        "links_ms",
        p99(times),
        "ms",
        baseline=p99(sql_times),
        edges=len(graph),
        median_ms=round(statistics.median(times), 3),
        median_nodes=statistics.median(sizes),
        baseline_is="p99 of the same two hops as SQL over an indexed SQLite edge table",
    )
    emit("connection_ms", p99(paths), "ms", edges=len(graph), connected=connected, asked=len(pairs))
    emit("links_build_s", build_s, "s", edges=len(graph))


if __name__ == "__main__":
    main()
