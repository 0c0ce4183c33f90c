"""Shared data and helpers of the command-line tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from typer.testing import Result

from safecity import registry
from safecity.alerts.models import Alert
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.store import make_engine, make_session_factory, transaction

STATION = "BS-000001"
STOLEN_TAG = "00A1B2C3D4"
OTHER_TAG = "00C0FFEE11"

BROKEN_RULES = """\
version: 2
extra: true
rules:
  - name: stolen-bike
    kind: hotlist
  - name: stolen-bike
    kind: hotlist
    params: {record_kinds: [teleport]}
  - name: Bad Name
    kind: nonsense
  - name: tamper
    kind: tag_tamper
    severity: urgent
"""

Run = Callable[..., Result]


def read(i: int, ts: datetime, subject: str = STOLEN_TAG) -> dict[str, Any]:
    """A read by the station, named in the event as replay files must."""
    return {"id": f"r{i}", "kind": "rfid_read", "ts": ts.isoformat(), "device": STATION, "subject": subject}


def totals_of(result: Result) -> dict[str, int]:
    """The totals replay prints: stdout must hold that JSON and nothing else."""
    assert result.exit_code == 0, result.output
    totals: dict[str, int] = json.loads(result.stdout)
    return totals


def alert_count(settings: Settings) -> int:
    """Alert rows in the registry database."""
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(Alert)) or 0
    engine.dispose()
    return count


def password_file(tmp_path: Path, password: str = "a long enough password") -> Path:
    path = tmp_path / "password.txt"
    path.write_text(password + "\n", encoding="utf-8")
    return path


def seed_stolen_bike(platform: Platform, now: datetime) -> None:
    """One base station (STATION) and a bike (STOLEN_TAG) registered 3 h and reported stolen 2 h ago."""
    with transaction(platform.session_factory) as session:
        registry.create_device(
            session,
            device_id=STATION,
            kind="rfid_station",
            name="Gate",
            lat=28.0,
            lon=120.7,
            area_id=None,
            now=now,
        )
        reg = registry.BikeRegistration(
            tag_id=STOLEN_TAG,
            frame_number="WZ-1",
            model="Yadea G5",
            colour="red",
            owner_id_number="11010519491231002X",
            owner_name="Zhang Wei",
        )
        bike = registry.register_bike(
            session,
            reg=reg,
            by="clerk",
            now=now - timedelta(hours=3),
            pseudonymize=platform.pseudonyms.pseudonym,
        )
        registry.report_stolen(
            session,
            bike_id=bike.id,
            reported_by="owner",
            basis="report 42",
            owner="officer-12",
            now=now - timedelta(hours=2),
        )
