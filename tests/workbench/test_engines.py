"""DuckDB and Spark give identical answers to every analysis over the same lake files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from safecity.workbench import Engine, EngineKind, Window
from safecity.workbench.collision import check_question, collision
from safecity.workbench.companions import companions
from safecity.workbench.plates import impossible_travel_expr
from tests.servicecheck import require_spark
from tests.workbench.data import LAT0, LON0, T0, sightings, write

pytestmark = pytest.mark.slow

WINDOWS = [
    Window(T0, T0 + timedelta(hours=10), devices=("D01", "D02", "D03")),
    Window(
        T0 + timedelta(hours=5), T0 + timedelta(hours=30), center=(LAT0 + 0.015, LON0 + 0.015), radius_m=900
    ),
    Window(
        T0 + timedelta(hours=20),
        T0 + timedelta(hours=40),
        polygon=((LAT0, LON0), (LAT0 + 0.02, LON0), (LAT0 + 0.02, LON0 + 0.02), (LAT0, LON0 + 0.01)),
    ),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Engine]:
    require_spark()
    engine = Engine(EngineKind.SPARK, spark_master="local[2]")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, list[Path]]:
    records = sightings(20_000, seed=11)
    return records, write(records, tmp_path_factory.mktemp("pool"), files=4)


@pytest.mark.parametrize(("k", "areas"), [(1, None), (2, ["A1"]), (3, None)])
def test_collision_answers_agree(
    spark: Engine, pool: tuple[pl.DataFrame, list[Path]], k: int, areas: list[str] | None
) -> None:
    _, files = pool
    checked = check_question(WINDOWS, k, None)
    answers = []
    for engine in (Engine(EngineKind.DUCKDB), spark):
        with engine.session() as session:
            answers.append(collision(session, [files] * 3, checked, k, areas=areas, limit=10_000))
    assert answers[0].total > 0
    assert answers[0] == answers[1]


@pytest.mark.parametrize(("who", "ring"), [(("plate", "S3"), 1), (("phone", "S7"), 0)])
def test_companion_answers_agree(
    spark: Engine, pool: tuple[pl.DataFrame, list[Path]], who: tuple[str, str], ring: int
) -> None:
    records, files = pool
    target = records.filter(pl.col("subject_kind") == who[0], pl.col("subject") == who[1]).sort("ts")
    answers = []
    for engine in (Engine(EngineKind.DUCKDB), spark):
        with engine.session() as session:
            answers.append(
                companions(
                    session,
                    files,
                    target,
                    target_kind=who[0],
                    target_values=[who[1]],
                    start=T0,
                    end=T0 + timedelta(days=2),
                    tolerance_s=300,
                    ring=ring,
                    areas=["A1", "A2"],
                )
            )
    assert answers[0].companions
    assert answers[0] == answers[1]


def test_cloned_plate_answers_agree(spark: Engine, pool: tuple[pl.DataFrame, list[Path]]) -> None:
    _, files = pool
    answers = []
    for engine in (Engine(EngineKind.DUCKDB), spark):
        with engine.session() as session:
            expr = impossible_travel_expr(
                session.sightings(files),
                start=T0,
                end=T0 + timedelta(days=2),
                max_kmh=40,
                min_distance_m=500,
                areas=["A1", "A2"],
            )
            answers.append(session.frame(expr).with_columns(pl.col("distance_m", "kmh").round(6)))
    assert answers[0].height > 0
    assert answers[0].equals(answers[1])
