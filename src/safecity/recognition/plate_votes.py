"""One read per passing vehicle: a camera's noisy readings of it grouped, then voted per position.

A camera reads a passing car in several frames; some frames are blurred and read a character
wrong. Readings at one camera that follow each other within `gap_s` and whose plates are within
`max_distance` (the fuzzy matcher's weighted edit distance) of the group's current vote belong to
one vehicle. When a group has been quiet for `gap_s` it is closed and voted: the plate length most
of the confidence backs wins, then each position takes the character with the highest summed
confidence (the reader's per-character confidences where it gave them), so one bad frame does
not miss the car and one good frame is not outvoted by its own blur.

Pure and incremental: `feed` readings in time order, receive the groups each one closes; `due`
closes those quiet at a given time, `flush` all. Time comes from the readings, never a clock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from safecity.recognition.plate_match import plate_distance


@dataclass(frozen=True, slots=True)
class PlateObservation:
    """One reading of a plate by a camera: when, what, how sure (overall and per character)."""

    camera: str
    at: datetime
    plate: str
    confidence: float
    char_confidences: tuple[float, ...] | None = None
    ref: Any = None  # the caller's handle on the reading (its image, its record id)


@dataclass(frozen=True, slots=True)
class VotedRead:
    """The vote of one vehicle's readings at one camera."""

    camera: str
    plate: str
    confidence: float
    first_at: datetime
    last_at: datetime
    readings: tuple[PlateObservation, ...]

    @property
    def agreed(self) -> int:
        """How many readings said exactly the voted plate."""
        return sum(r.plate == self.plate for r in self.readings)


@dataclass(slots=True)
class _Group:
    readings: list[PlateObservation] = field(default_factory=list)
    plate: str = ""

    @property
    def last_at(self) -> datetime:
        return self.readings[-1].at

    def add(self, reading: PlateObservation) -> None:
        self.readings.append(reading)
        self.plate = vote(self.readings)[0]


def vote(readings: list[PlateObservation]) -> tuple[str, float]:
    """The plate the readings back, position by position, and how strongly (0 to 1)."""
    by_length: dict[int, float] = defaultdict(float)
    for r in readings:
        by_length[len(r.plate)] += r.confidence
    length = max(by_length, key=lambda n: (by_length[n], -n))
    same = [r for r in readings if len(r.plate) == length]
    chosen: list[str] = []
    shares: list[float] = []
    for i in range(length):
        weights: dict[str, float] = defaultdict(float)
        for r in same:
            weights[r.plate[i]] += _weight(r, i)
        total = sum(weights.values())
        winner = max(weights, key=lambda c: (weights[c], c))
        chosen.append(winner)
        shares.append(weights[winner] / total if total else 0.0)
    backing = sum(r.confidence for r in same) / len(same)
    length_share = by_length[length] / (sum(by_length.values()) or 1.0)
    return "".join(chosen), backing * length_share * sum(shares) / length


def _weight(reading: PlateObservation, position: int) -> float:
    chars = reading.char_confidences
    if chars is not None and len(chars) == len(reading.plate):
        return max(chars[position], 1e-6)
    return max(reading.confidence, 1e-6)


class PlateVoter:
    """Groups readings per camera and vehicle; closed groups come back voted."""

    def __init__(self, *, gap_s: float = 3.0, max_distance: float = 2.0, max_span_s: float = 60.0) -> None:
        self._gap = timedelta(seconds=gap_s)
        self._max_span = timedelta(seconds=max_span_s)  # a parked car still yields a read a minute
        self._max_distance = max_distance
        self._open: dict[str, list[_Group]] = defaultdict(list)

    def feed(self, reading: PlateObservation) -> list[VotedRead]:
        """Take one reading; answer the groups (at any camera) that its time closes."""
        closed = self.due(reading.at)
        groups = self._open[reading.camera]
        best: tuple[float, _Group] | None = None
        for group in groups:
            distance = plate_distance(reading.plate, group.plate, self._max_distance)
            if distance <= self._max_distance and (best is None or distance < best[0]):
                best = (distance, group)
        if best is None:
            group = _Group()
            groups.append(group)
        else:
            group = best[1]
        group.add(reading)
        return closed

    def due(self, now: datetime) -> list[VotedRead]:
        """Close and vote the groups quiet for `gap_s` (or older than `max_span_s`) at `now`."""
        closed: list[VotedRead] = []
        for camera, groups in list(self._open.items()):
            keep = []
            for group in groups:
                quiet = now - group.last_at > self._gap
                if quiet or now - group.readings[0].at > self._max_span:
                    closed.append(_voted(camera, group))
                else:
                    keep.append(group)
            if keep:
                self._open[camera] = keep
            else:
                del self._open[camera]
        closed.sort(key=lambda v: v.first_at)
        return closed

    def flush(self) -> list[VotedRead]:
        """Close and vote every open group (the end of a stream)."""
        closed = [_voted(camera, g) for camera, groups in self._open.items() for g in groups]
        self._open.clear()
        closed.sort(key=lambda v: v.first_at)
        return closed

    @property
    def open_groups(self) -> int:
        """How many vehicles are being read right now."""
        return sum(len(g) for g in self._open.values())


def _voted(camera: str, group: _Group) -> VotedRead:
    plate, confidence = vote(group.readings)
    readings = sorted(group.readings, key=lambda r: r.at)
    return VotedRead(camera, plate, confidence, readings[0].at, readings[-1].at, tuple(readings))


__all__ = ["PlateObservation", "PlateVoter", "VotedRead", "vote"]
