"""Cloned plates: the live rule and the search over the past, against a brute-force answer."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safecity.core.geo import distance_m
from safecity.rules.config import RuleConfig
from safecity.workbench import Engine
from safecity.workbench.plates import PlateCloneRule, impossible_travel_expr
from tests.workbench.data import LAT0, LON0, T0, frame, sightings, write


def _reads(*rows: tuple[str, str, float, float, int]) -> pl.DataFrame:
    """(event id, plate, lat, lon, seconds after T0) as plate reads."""
    return frame(
        {
            "event_id": [r[0] for r in rows],
            "subject_kind": ["plate"] * len(rows),
            "subject": [r[1] for r in rows],
            "device": [f"CAM-{r[0]}" for r in rows],
            "ts": [T0 + timedelta(seconds=r[4]) for r in rows],
            "lat": [r[2] for r in rows],
            "lon": [r[3] for r in rows],
            "area": ["A1"] * len(rows),
        }
    )


def _rule(**params: float) -> PlateCloneRule:
    return PlateCloneRule(RuleConfig(name="cloned-plate", kind="plate_clone", params=params))


def test_a_plate_in_two_districts_ten_minutes_apart_is_warned_of_with_both_reads() -> None:
    rule = _rule()
    # 浙C12345 by the west gate, then 29 km east eight minutes later: 217 km/h in a straight line.
    assert rule.evaluate(_reads(("r1", "浙C12345", 30.0, 120.50, 0)), None, T0) == []  # type: ignore[arg-type]
    later = _reads(("r2", "浙C12345", 30.0, 120.80, 480), ("r3", "浙C99999", 30.0, 120.51, 490))
    (found,) = rule.evaluate(later, None, T0 + timedelta(minutes=8))  # type: ignore[arg-type]
    assert (found.subject, found.rule_kind, found.dedup_key) == ("浙C12345", "plate_clone", "clone:浙C12345")
    assert [e.event_id for e in found.evidence] == ["r1", "r2"]
    assert found.facts["distance_m"] == pytest.approx(distance_m(30.0, 120.50, 30.0, 120.80), abs=1)
    assert found.facts["speed_kmh"] > 150


def test_reads_of_one_junction_or_at_driving_speed_are_not_warned_of() -> None:
    rule = _rule()
    batch = _reads(
        ("a1", "浙C11111", 30.0, 120.50, 0),
        ("a2", "浙C11111", 30.0, 120.5005, 2),  # the next camera of the same junction, 2 s later
        ("b1", "浙C22222", 30.0, 120.50, 0),
        ("b2", "浙C22222", 30.0, 120.60, 600),  # 9.6 km in 10 minutes: 58 km/h
    )
    assert rule.evaluate(batch, None, T0) == []  # type: ignore[arg-type]


def test_a_plate_silent_longer_than_it_is_remembered_starts_afresh() -> None:
    rule = _rule(remember_h=1)
    rule.evaluate(_reads(("r1", "浙C12345", 30.0, 120.50, 0)), None, T0)  # type: ignore[arg-type]
    rule.tick(None, T0 + timedelta(hours=2))  # type: ignore[arg-type]
    assert rule.evaluate(_reads(("r2", "浙C12345", 30.0, 120.70, 7300)), None, T0) == []  # type: ignore[arg-type]


def brute_pairs(records: pl.DataFrame, *, max_kmh: float, min_distance_m: float) -> set[tuple[str, str, str]]:
    plates = records.filter(pl.col("subject_kind") == "plate").sort("subject", "ts", "event_id")
    found = set()
    for (plate,), group in plates.group_by(["subject"], maintain_order=True):
        rows = group.to_dicts()
        for a, b in zip(rows, rows[1:], strict=False):
            metres = distance_m(a["lat"], a["lon"], b["lat"], b["lon"])
            seconds = math.floor(b["ts"].timestamp()) - math.floor(a["ts"].timestamp())
            if metres >= min_distance_m and metres * 3.6 > max_kmh * max(seconds, 1):
                found.add((str(plate), a["event_id"], b["event_id"]))
    return found


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, list[Path]]:
    records = sightings(4_000, seed=21, subjects=30)
    return records, write(records, tmp_path_factory.mktemp("plates"))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(max_kmh=st.floats(1, 200), min_distance_m=st.floats(0, 3_000))
def test_the_search_finds_exactly_the_impossible_consecutive_pairs(
    pool: tuple[pl.DataFrame, list[Path]], max_kmh: float, min_distance_m: float
) -> None:
    records, files = pool
    with Engine().session() as engine:
        rows = engine.frame(
            impossible_travel_expr(
                engine.sightings(files),
                start=T0,
                end=T0 + timedelta(days=2),
                max_kmh=max_kmh,
                min_distance_m=min_distance_m,
                areas=None,
            )
        )
    got = {(r["subject"], r["prev_event_id"], r["event_id"]) for r in rows.iter_rows(named=True)}
    assert got == brute_pairs(records, max_kmh=max_kmh, min_distance_m=min_distance_m)
    assert rows["kmh"].to_list() == sorted(rows["kmh"].to_list(), reverse=True)


def test_the_planted_clone_is_found_among_ordinary_plates(tmp_path: Path) -> None:
    base = sightings(2_000, seed=4)
    clone = _reads(("c1", "浙C8C888", LAT0, LON0, 3_600), ("c2", "浙C8C888", LAT0 + 0.12, LON0 + 0.12, 3_900))
    files = write(pl.concat([base, clone]), tmp_path)
    with Engine().session() as engine:
        rows = engine.frame(
            impossible_travel_expr(
                engine.sightings(files),
                start=T0,
                end=T0 + timedelta(days=2),
                max_kmh=150,
                min_distance_m=2_000,
                areas=None,
            )
        )
    assert rows.select("subject", "prev_event_id", "event_id").rows() == [("浙C8C888", "c1", "c2")]
