"""The records the tracker servers make of the simulated terminals' reports, for replaying a day through
the rule engine without the sockets (the accuracy benchmark).

Mirrors `ingest/adapters/tcp/records.py`: a fix is a `tracker_fix` whose subject is the terminal
id and whose device is the tracker it is bound to (`attrs`: valid, speed, course, satellites, and
for a GT06 alarm the battery it reports); a GT06 alarm is that fix and an `alarm` with its code; a
status report is a `heartbeat` with `battery_pct` at the terminal's last fix. The area is the
tracker's registered area, as the pipeline stamps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import polars as pl

from safecity.core.record import RECORD_SCHEMA
from safecity.sim.tracked import ALARM, STATUS, Emission

GT06_IMEI_DIGITS = 15


def battery_pct(level: int) -> int:
    """The GT06 0-6 voltage level as the decoder turns it into a percentage."""
    return round(level * 100 / 6)


def tracker_records(
    emissions: Iterable[Emission], devices: dict[str, tuple[str, str | None]]
) -> pl.DataFrame:
    """Record rows (RECORD_SCHEMA) of the reports; `devices`: terminal -> (device id, area)."""
    rows: list[dict[str, object]] = []
    battery: dict[str, int] = {}
    for n, e in enumerate(emissions):
        if e.terminal not in devices:
            continue
        device, area = devices[e.terminal]
        gt06 = len(e.terminal) == GT06_IMEI_DIGITS
        protocol = "gt06" if gt06 else "jt808"
        r = e.reading
        base = {
            "device": device,
            "ts": r.ts,
            "lat": r.lat,
            "lon": r.lon,
            "area": area,
            "source": protocol,
            "received_at": r.ts,
            "cell": None,
            "value": None,
        }
        eid = f"{protocol}-{e.terminal}-{n:x}"
        if e.kind == STATUS:
            battery[e.terminal] = e.battery_level
            attrs = {"battery_pct": battery_pct(e.battery_level), "position": "last_fix"}
            rows.append(
                base
                | {
                    "event_id": f"{eid}-h",
                    "kind": "heartbeat",
                    "subject_kind": None,
                    "subject": None,
                    "code": None,
                    "attrs": json.dumps(attrs),
                }
            )
            continue
        attrs = {
            "valid": r.valid,
            "speed_kmh": r.speed_kmh,
            "course": round(r.course),
            "satellites": r.satellites,
        }
        if gt06 and e.kind == ALARM:
            attrs["battery_pct"] = battery_pct(battery.get(e.terminal, 6))
        rows.append(
            base
            | {
                "event_id": f"{eid}-0",
                "kind": "tracker_fix",
                "subject_kind": "tracker",
                "subject": e.terminal,
                "code": None,
                "attrs": json.dumps(attrs),
            }
        )
        for i, code in enumerate((e.alarm,) if e.kind == ALARM and e.alarm else e.alarms):
            rows.append(
                base
                | {
                    "event_id": f"{eid}-a{i}",
                    "kind": "alarm",
                    "subject_kind": None,
                    "subject": None,
                    "code": code,
                    "attrs": "{}",
                }
            )
    frame = pl.DataFrame(rows, schema={k: v for k, v in RECORD_SCHEMA.items() if k != "corr_id"})
    return frame.with_columns(corr_id=pl.col("event_id")).select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA)  # type: ignore[arg-type]


__all__ = ["battery_pct", "tracker_records"]
