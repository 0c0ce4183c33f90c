"""Benchmark of the case file as PDF: how long a typical case's file takes to set, and its size.

The case: 36 saved questions (24 collisions of 3 windows with 20 subjects each, 8 companions
searches with 15 companions each, 4 cloned-plate searches with 10 pairs each), 12 pins and 10
notes, in Chinese and English, as an investigation of a burglary series leaves it.

- `cold_s`: the first file on a fresh cache folder, converting the Chinese font's chunks the text
  needs from the console's woff2 (once per platform: later files reuse them);
- `warm_p50_s`, `warm_max_s`: later files, in a process that has set one already (target: well
  under 2 s), and `warm_cpu_p50_s`, the processor time of one (the figure a busy machine does
  not inflate);
- `bytes`: the file's size, and `pages`.

Run: `.venv/bin/python bench/casefile.py` (after `make assets`, which copies the font).
`--out FILE` also writes the PDF, to look at. Prints one JSON object per figure on stdout.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from safecity.security.schemas import CaseOut
from safecity.workbench.casefile_pdf import render_case_file_pdf
from safecity.workbench.cjkfont import CjkFont
from safecity.workbench.workspace import Note, Pin, SavedQuery, Workspace

FONT_DIR = Path(__file__).resolve().parents[1] / "src/safecity/web/static/vendor/noto-sans-sc/files"
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
WARM_RUNS = 5
NOTES = [
    "嫌疑人手机在三家店都出现过，与浙C7M2K9同行四次。",
    "Checked the CCTV of shop 2 with the owner: the man in the grey jacket matches the phone's times.",
    "商铺2店主确认：凌晨两点左右听到卷帘门响动，未报警。",
    "车辆登记人王某某否认案发当晚用车，需调取停车场记录核实。",
]


def emit(metric: str, value: float, unit: str, *, target: float | None = None) -> None:
    """One figure as a JSON line."""
    row = {"bench": "casefile", "metric": metric, "value": round(value, 3), "unit": unit, "target": target}
    print(json.dumps(row), flush=True)


def _read(n: int, at: datetime) -> dict[str, Any]:
    return {"event_id": f"ev-{n:08d}", "device": f"CK-{n % 7}", "ts": at.isoformat(), "area": "C1"}


def _collision(n: int) -> SavedQuery:
    windows = [
        {
            "start": (NOW - timedelta(hours=30 - 8 * i)).isoformat(),
            "end": (NOW - timedelta(hours=29 - 8 * i)).isoformat(),
            "center": [28.0012 + i / 1000, 120.6534],
            "radius_m": 300,
        }
        for i in range(3)
    ]
    hits = [
        {
            "subject_kind": "phone",
            "subject": f"p-{n:02d}{h:02d}9f3c2a71e04b6d58",
            "windows": 3,
            "sightings": 3 + h,
            "evidence": [
                {**_read(n * 100 + h * 3 + i, NOW - timedelta(hours=30 - 8 * i)), "window": i, "seen": 1}
                for i in range(3)
            ],
        }
        for h in range(20)
    ]
    return SavedQuery(
        n,
        "collision",
        f"Collision: 3 windows, seen in at least 3: {len(hits)} subjects",
        {"k": 3, "kinds": [], "windows": windows, "offset": 0, "limit": 100},
        len(hits),
        "inv-1",
        NOW - timedelta(hours=40 - n),
        {"total": len(hits), "hits": hits},
    )


def _companions(n: int) -> SavedQuery:
    found = [
        {
            "subject_kind": "plate",
            "subject": f"浙C{n:02d}{c:03d}",
            "places": 4,
            "meetings": 6,
            "first": (NOW - timedelta(hours=40)).isoformat(),
            "last": (NOW - timedelta(hours=16)).isoformat(),
            "evidence": [_read(n * 100 + m, NOW - timedelta(hours=40 - 4 * m)) for m in range(6)],
        }
        for c in range(15)
    ]
    params = {
        "subject_kind": "phone",
        "subject": "p-9f3c2a71e04b6d58",
        "start": (NOW - timedelta(days=2)).isoformat(),
        "end": NOW.isoformat(),
        "tolerance_s": 120,
        "ring": 1,
        "min_meetings": 2,
        "min_places": 2,
    }
    title = f"Companions of phone p-9f3c2a71e04b6d58: {len(found)} found"
    result = {"target_sightings": 40, "companions": found}
    return SavedQuery(
        n, "companions", title, params, len(found), "inv-2", NOW - timedelta(hours=20 - n), result
    )


def _cloned(n: int) -> SavedQuery:
    pairs = [
        {
            "plate": f"浙C{p:05d}",
            "distance_m": 18_400.0 + p,
            "seconds": 420,
            "kmh": 157.7,
            "first": _read(p, NOW - timedelta(hours=5)),
            "second": _read(p + 1, NOW - timedelta(hours=5, minutes=-7)),
        }
        for p in range(10)
    ]
    params = {
        "start": (NOW - timedelta(days=7)).isoformat(),
        "end": NOW.isoformat(),
        "max_kmh": 150,
        "min_distance_m": 2000,
        "plates": [],
    }
    title = f"Cloned plates: {len(pairs)} plates over 150 km/h"
    return SavedQuery(
        n, "cloned_plates", title, params, len(pairs), "inv-1", NOW - timedelta(hours=3), {"pairs": pairs}
    )


def typical_case() -> tuple[Workspace, list[SavedQuery]]:
    """A burglary series' case: 36 questions with their answers, 12 pins, 10 notes."""
    case = CaseOut(
        id="C2026-000042",
        title="吴马街三家商铺连环盗窃案 (Wuma St shop burglaries)",
        basis="报警记录 2026-1121-0031、-0032、-0040；刑事立案决定书 温公刑立字〔2026〕42号",
        area_id="S1",
        window_start=NOW - timedelta(days=3),
        window_end=NOW,
        status="open",
        opened_by="inv-1",
        opened_at=NOW - timedelta(days=2),
        closed_at=None,
        members=["inv-1", "inv-2", "inv-3"],
        holds=[],
    )
    answers = [_collision(n) for n in range(1, 25)] + [_companions(n) for n in range(25, 33)]
    answers += [_cloned(n) for n in range(33, 37)]
    pins = [
        Pin(
            i,
            "subject",
            f"plate:浙C7M2K{i}",
            "同行车辆",
            NOTES[i % 4][:40],
            "inv-1",
            NOW - timedelta(hours=i),
        )
        for i in range(1, 13)
    ]
    notes = [Note(i, NOTES[i % 4], "inv-2", NOW - timedelta(hours=10 - i)) for i in range(10)]
    return Workspace(case, [], pins, notes), answers


def main() -> None:
    """Set the typical case's file on a fresh cache, then warm; print the figures."""
    workspace, answers = typical_case()
    out = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else None
    with tempfile.TemporaryDirectory() as cache:
        font = CjkFont(FONT_DIR, Path(cache))
        font.require()
        started = time.perf_counter()
        pdf = render_case_file_pdf(workspace, answers, exported_by="inv-1", exported_at=NOW, font=font)
        emit("cold_s", time.perf_counter() - started, "s")
        warm, cpu = [], []
        for _ in range(WARM_RUNS):
            started, used = time.perf_counter(), time.process_time()
            pdf = render_case_file_pdf(workspace, answers, exported_by="inv-1", exported_at=NOW, font=font)
            warm.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
    emit("warm_p50_s", statistics.median(warm), "s", target=2.0)
    emit("warm_max_s", max(warm), "s", target=2.0)
    emit("warm_cpu_p50_s", statistics.median(cpu), "s")
    emit("bytes", len(pdf), "bytes")
    emit("pages", len(PdfReader(io.BytesIO(pdf)).pages), "pages")
    if out is not None:
        out.write_bytes(pdf)


if __name__ == "__main__":
    main()
