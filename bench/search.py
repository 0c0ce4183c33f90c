"""Benchmark `search` (issue 13's `search_ms`): plate and name fragments over 10 million registry rows.

Half the rows are people (a Chinese name drawn from common surnames and given-name characters,
an identity number, a phone), half are vehicles' plates (浙 and a city letter, five serial
characters; a tenth green new-energy plates of six). Every row is indexed by the workbench's own
code (`search.document_terms`) into SQLite's FTS5 table as migration 0029 makes it, then asked
through `search.search`, as the console asks it, scoped to the areas of a case:

* `search_ms`: p99 over plate fragments (浙C?12*5-style wildcards and bare fragments such as
  5T16) and name fragments (a given name's two characters, a full name), 400 queries in all;
  also reported per kind (`search_plate_ms`, `search_name_ms`, p99) and the median.
  Baseline: the same questions as a scan (`LIKE` / `GLOB` over the rows without the index), over
  a few of the queries; `ratio` = scan / index.
* `index_build_s`: time to compute and write the terms of all rows (rows per second in `rows_per_s`).

Full size: 10,000,000 rows. BENCH_SIZE=small: 200,000 (under a minute). BENCH_KEEP=1 keeps the
database in /tmp for the next run. Progress on stderr. `make bench NAME=search`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

import safecity.models  # noqa: F401  (every table on the metadata)
from safecity.core.entities import CodeClass, Document
from safecity.store import make_engine
from safecity.store.db import Base
from safecity.workbench.models import SearchDocument
from safecity.workbench.search import document_fields, document_terms, search

TARGETS = {"search_ms": 100.0}
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国文辉鹏飞玲红梅琳宇浩俊波斌"
"宁欣怡佳雪婷晨阳丹凯瑞鑫志峰亮"
SERIAL = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
AREAS = [f"A{i:02d}" for i in range(40)]
CASE_AREAS = AREAS[:8]  # a case's district: its communities


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    ratio = round(baseline / value, 1) if baseline is not None and value else None
    row = {
        "bench": "search",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
        "target": TARGETS.get(metric),
        **extra,
    }
    print(json.dumps(row, ensure_ascii=False), flush=True)


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label:<12} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def plate(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return "浙C" + rng.choice("DF") + "".join(rng.choice(SERIAL[:10]) for _ in range(5))
    return "浙" + rng.choice("CCCCCAB") + "".join(rng.choice(SERIAL) for _ in range(5))


CHUNK = 50_000
SCAN = "SELECT kind, key FROM search_documents WHERE"


def chunk_rows(first: int) -> tuple[list[tuple[Any, ...]], list[str], list[str]]:
    """Rows first..first+CHUNK as they are written (terms made by the workbench's own code), and
    some names and plates of the case's areas to ask for. Run in a pool: the terms are the cost."""
    rng = random.Random(first)
    rows, names, plates = [], [], []
    for i in range(first, first + CHUNK):
        area = AREAS[i % len(AREAS)]
        asked = area in CASE_AREAS and rng.random() < 0.01
        if i % 2 == 0:
            who = name(rng)
            doc = Document(
                "person",
                str(i),
                who,
                area,
                text={"name": who},
                codes={
                    "identity number": (
                        CodeClass.NUMBER,
                        f"3306{rng.randrange(10**13):013d}{rng.choice('0123456789X')}",
                    ),
                    "phone": (CodeClass.NUMBER, f"1{rng.choice('358')}{rng.randrange(10**9):09d}"),
                },
                masked=frozenset({"identity number", "phone"}),
            )
            if asked:
                names.append(who)
        else:
            p = plate(rng)
            doc = Document("plate", f"{p}#{i}", p, area, codes={"plate": (CodeClass.PLATE, p)})
            if asked:
                plates.append(p)
        fields = json.dumps(document_fields(doc), ensure_ascii=False)
        rows.append((doc.kind, doc.key, doc.area_id, doc.title, fields, document_terms(doc)))
    return rows, names, plates


def build(path: Path, rows: int) -> tuple[list[str], list[str], float]:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine, tables=[SearchDocument.__table__])  # type: ignore[list-item]
    engine.dispose()
    started = time.perf_counter()
    names: list[str] = []
    plates: list[str] = []
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    done = 0
    with multiprocessing.get_context("fork").Pool(2) as pool:
        for batch, some_names, some_plates in pool.imap(chunk_rows, range(0, rows, CHUNK)):
            con.executemany(
                "INSERT INTO search_documents (kind, key, area_id, title, fields, terms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                batch,
            )
            con.commit()
            names += some_names
            plates += some_plates
            done += len(batch)
            progress("index", done, rows)
    con.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
    con.commit()
    con.close()
    took = time.perf_counter() - started
    (path.parent / "asked.json").write_text(
        json.dumps({"names": names, "plates": plates}, ensure_ascii=False)
    )
    return names, plates, took


def plate_queries(plates: list[str], rng: random.Random, n: int) -> list[str]:
    out = []
    for p in rng.sample(plates, min(n, len(plates))):
        if rng.random() < 0.5:  # a witness's memory: one character unknown, the tail uncertain
            chars = list(p)
            chars[2] = "?"
            out.append("".join(chars[:5]) + "*" + chars[-1])
        else:  # a fragment read off a photo
            start = rng.randrange(2, len(p) - 3)
            out.append(p[start : start + 4])
    return out


def name_queries(names: list[str], rng: random.Random, n: int) -> list[str]:
    out = []
    for who in rng.sample(names, min(n, len(names))):
        out.append(who if rng.random() < 0.5 or len(who) < 3 else who[1:])
    return out


def timed(session: Session, queries: list[str]) -> tuple[list[float], int]:
    times, found = [], 0
    for q in queries:
        started = time.perf_counter()
        result = search(session, q, areas=CASE_AREAS)
        times.append((time.perf_counter() - started) * 1000)
        found += bool(result.groups)
    return times, found


def scan(session: Session, queries: list[str], plates: bool) -> list[float]:
    """The same questions without the index: a LIKE or GLOB over every row."""
    times = []
    for q in queries:
        started = time.perf_counter()
        if plates:
            pattern = q if any(c in q for c in "?*") else f"*{q}*"
            sql = f"{SCAN} kind = 'plate' AND title GLOB :p AND area_id IN :a"
            params: dict[str, Any] = {"p": pattern}
        else:
            sql = f"{SCAN} kind = 'person' AND title LIKE :p AND area_id IN :a"
            params = {"p": f"%{q}%"}
        session.execute(
            text(sql).bindparams(bindparam("a", expanding=True)), {**params, "a": CASE_AREAS}
        ).all()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def main() -> None:
    small = os.environ.get("BENCH_SIZE") == "small"
    rows = 200_000 if small else 10_000_000
    keep = os.environ.get("BENCH_KEEP") == "1"
    folder = Path(f"/tmp/safecity-bench-search-{'small' if small else 'full'}")
    folder.mkdir(exist_ok=True)
    path = folder / "search.db"
    if keep and path.exists() and (folder / "asked.json").exists():
        asked = json.loads((folder / "asked.json").read_text())
        names, plates = asked["names"], asked["plates"]
        sys.stderr.write(f"reusing {path}\n")
    else:
        path.unlink(missing_ok=True)
        names, plates, took = build(path, rows)
        emit("index_build_s", took, "s", rows=rows, rows_per_s=round(rows / took))
    engine = make_engine(f"sqlite:///{path}")
    rng = random.Random(11)
    names, plates = names[:2_000], plates[:2_000]
    plate_q = plate_queries(plates, rng, 200)
    name_q = name_queries(names, rng, 200)
    with Session(engine) as session:
        timed(session, plate_q[:10] + name_q[:10])  # warm the page cache and jieba, as a running server is
        plate_ms, plate_found = timed(session, plate_q)
        name_ms, name_found = timed(session, name_q)
        scan_plate = scan(session, plate_q[:5], plates=True)
        scan_name = scan(session, name_q[:5], plates=False)
    engine.dispose()
    both = plate_ms + name_ms
    baseline = statistics.median(scan_plate + scan_name)
    emit(
        "search_ms",
        p99(both),
        "ms",
        baseline=baseline,
        rows=rows,
        queries=len(both),
        median_ms=round(statistics.median(both), 2),
        answered=plate_found + name_found,
        baseline_is="median of a LIKE/GLOB scan of the same rows",
    )
    emit(
        "search_plate_ms", p99(plate_ms), "ms", baseline=statistics.median(scan_plate), queries=len(plate_ms)
    )
    emit("search_name_ms", p99(name_ms), "ms", baseline=statistics.median(scan_name), queries=len(name_ms))
    if not keep:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
