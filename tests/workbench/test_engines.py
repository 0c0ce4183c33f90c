"""DuckDB and Spark give identical answers to every analysis over the same lake files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from safecity.workbench import Engine, EngineKind, Window
from safecity.workbench.collision import check_question, collision
from safecity.workbench.companions import companions
from safecity.workbench.forged_search import (
    PLATE_READ_COLUMNS,
    forged_reads_expr,
    per_plate_expr,
    registry_table,
)
from safecity.workbench.plates import impossible_travel_expr
from safecity.workbench.vehicle_facts import REGISTRY_SCHEMA
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


def test_forged_plate_answers_agree(
    spark: Engine, pool: tuple[pl.DataFrame, list[Path]], tmp_path: Path
) -> None:
    records, _ = pool
    rng = np.random.default_rng(3)
    words = {
        "vehicle_type": ["car", "SUV", "货车", "bus", "unknown"],
        "vehicle_colour": ["white", "黑色", "silver", "灰"],
    }
    plates = records["subject_kind"] == "plate"
    attrs = [
        json.dumps(
            {f: str(rng.choice(w)) for f, w in words.items()} | {"confidence": int(rng.integers(50, 100))},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        if is_plate
        else None
        for is_plate in plates
    ]
    files = write(records.with_columns(attrs=pl.Series(attrs, dtype=pl.String)), tmp_path, files=3)
    # Two thirds of the subjects registered, a few of them scrapped.
    held = pl.DataFrame(
        [
            (
                n,
                f"S{n}",
                "blue",
                ["car", "truck"][n % 2],
                ["white", "black", "grey"][n % 3],
                "",
                "scrapped" if n % 7 == 0 else "registered",
                T0,
            )
            for n in range(40)
        ],
        schema=REGISTRY_SCHEMA,
        orient="row",
    )
    answers = []
    for engine in (Engine(EngineKind.DUCKDB), spark):
        with engine.session() as session:
            expr = forged_reads_expr(
                session.sightings(files, columns=PLATE_READ_COLUMNS),
                session.table_of(registry_table(held, coarse_types=True)),
                start=T0,
                end=T0 + timedelta(days=2),
                areas=["A1", "A2"],
                provinces=["S"],
                void_statuses=["scrapped"],
                min_confidence=0.6,
            )
            answers.append((session.frame(expr), session.frame(per_plate_expr(expr))))
    reads, plates_answer = answers[0]
    assert reads["mismatch"].any() and reads["unregistered"].any()
    assert reads.equals(answers[1][0])
    assert plates_answer.equals(answers[1][1])
