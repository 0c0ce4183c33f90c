"""A wearer's fixes from the lake, from every tracker they wear (read by tracking/fixes.py), and
the audited read of them for the wearer's map."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context
from safecity.tracking.errors import TrackingError
from safecity.tracking.fixes import read_fixes, thin_rows
from safecity.tracking.missing_schemas import FixesOut, FixOut
from safecity.tracking.wearer_records import worn_devices
from safecity.tracking.wearers import wearer_in_reach

DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=7)
MAX_FIXES = 5_000
PURPOSE = "elderly locator care"


@dataclass(frozen=True, slots=True)
class Track:
    """A wearer's fixes, oldest first, and the last fix's record (for an alert's evidence)."""

    ts: list[datetime]
    lat: list[float]
    lon: list[float]
    last: dict[str, Any] | None


EMPTY = Track([], [], [], None)


def wearer_track(
    session: Session, path: Callable[..., pl.DataFrame], wearer_id: int, *, start: datetime, end: datetime
) -> Track:
    """The wearer's fixes with start <= ts < end from every tracker they wear now."""
    devices = worn_devices(session, [wearer_id])[wearer_id]
    frame = read_fixes(session, path, devices, start=start, end=end) if devices else pl.DataFrame()
    if frame.is_empty():
        return EMPTY
    last = frame.row(-1, named=True)
    return Track(frame["ts"].to_list(), frame["lat"].to_list(), frame["lon"].to_list(), last)


def thin(track: Track, most: int) -> tuple[list[FixOut], bool]:
    """At most `most` points, evenly spaced, always keeping the last fix; and whether any was left out."""
    keep, thinned = thin_rows(len(track.ts), most)
    return [FixOut(ts=track.ts[i], lat=track.lat[i], lon=track.lon[i]) for i in keep], thinned


class WearerTracks:
    """Reading a wearer's fixes for the console's map: in reach, audited, at most a week at a time."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        *,
        now: Callable[[], datetime],
        path: Callable[..., pl.DataFrame],
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now
        self._path = path

    def fixes(
        self,
        ctx: Context,
        wearer_id: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        resource: str,
    ) -> FixesOut:
        """The wearer's fixes in [start, end) (default: the last 24 hours), oldest first."""
        end = end or self._now()
        start = start or end - DEFAULT_WINDOW
        if start >= end:
            raise TrackingError("start must be before end", field="start")
        if end - start > MAX_WINDOW:
            raise TrackingError(f"at most {MAX_WINDOW.days} days at a time", field="start")
        with self._sessions() as session:
            wearer = wearer_in_reach(session, ctx, wearer_id)
            track = wearer_track(session, self._path, wearer.id, start=start, end=end)
            person_id = wearer.person_id
        fixes, thinned = thin(track, MAX_FIXES)
        entry = AuditEntry(
            "wearers.fixes",
            resource,
            purpose=PURPOSE,
            subjects=[subject("person", person_id)],
            result_count=len(track.ts),
            detail={"wearer": wearer_id, "start": start.isoformat(), "end": end.isoformat()},
        )
        self._recorder.record(ctx, entry)
        return FixesOut(wearer_id=wearer_id, start=start, end=end, fixes=fixes, truncated=thinned)


def build_tracks(platform: Any) -> WearerTracks:
    """The wearer-fixes use case on a platform's parts (core.capabilities.Service)."""
    return WearerTracks(
        platform.session_factory, platform.security, now=platform.clock.now, path=platform.lake.path
    )


__all__ = ["EMPTY", "Track", "WearerTracks", "build_tracks", "thin", "wearer_track"]
