"""Reading trackers' fixes from the lake for the maps: every id a tracker's records carry.

A tracker's `tracker_fix` records name the terminal as their subject (a GT06 IMEI, a JT/T 808
phone number) or, for a JSON tracker, the device itself; the lake's path query reads by subject,
so the subjects asked for are the devices' ids and the terminal ids bound to them, and only the
devices' own records are kept. Wearers' maps (wearer_track.py) and shipments' (shipment_track.py)
both read them here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session

from safecity import registry


def read_fixes(
    session: Session,
    path: Callable[..., pl.DataFrame],
    devices: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    terminals: Iterable[str] = (),
) -> pl.DataFrame:
    """The devices' placed fixes with start <= ts < end, oldest first (also under `terminals`)."""
    bound = registry.terminals_of(session, devices)
    subjects = sorted({*devices, *terminals, *(t for ids in bound.values() for t in ids)})
    if not subjects:
        return pl.DataFrame()
    frame = path(subject_kind="tracker", subject=subjects, start=start, end=end)
    return frame.filter(
        (pl.col("kind") == "tracker_fix")
        & pl.col("device").is_in(list(devices))
        & pl.col("lat").is_not_null()
        & pl.col("lon").is_not_null()
    ).sort("ts")


def thin_rows(n: int, most: int) -> tuple[list[int], bool]:
    """Rows to keep of `n` for at most `most`, evenly spaced, always the last; and whether any is left out."""
    step = max(1, -(-n // most))
    keep = list(range(0, n, step))
    if keep and keep[-1] != n - 1:
        keep.append(n - 1)
    return keep, step > 1


__all__ = ["read_fixes", "thin_rows"]
