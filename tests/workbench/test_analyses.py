"""Collision and companions on DuckDB against brute-force answers over small generated sightings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safecity.workbench import Engine, QueryRefused, Window
from safecity.workbench.collision import check_question, collision
from safecity.workbench.companions import companions
from safecity.workbench.errors import TooLarge
from tests.workbench.data import LAT0, LON0, T0, brute_collision, brute_companions, sightings, write

HOURS = 48
SQUARE = ((LAT0, LON0), (LAT0 + 0.02, LON0), (LAT0 + 0.02, LON0 + 0.02), (LAT0, LON0 + 0.01))


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, list[Path]]:
    records = sightings(6_000, seed=7)
    return records, write(records, tmp_path_factory.mktemp("pool"))


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(st.integers(0, HOURS - 1))
    length = draw(st.integers(1, 24))
    span = (T0 + timedelta(hours=start), T0 + timedelta(hours=min(start + length, HOURS)))
    place = draw(st.sampled_from(["devices", "circle", "polygon"]))
    if place == "devices":
        chosen = draw(st.sets(st.integers(0, 19), min_size=1, max_size=6))
        return Window(*span, devices=tuple(f"D{d:02d}" for d in sorted(chosen)))
    if place == "circle":
        lat = LAT0 + draw(st.floats(0, 0.03))
        lon = LON0 + draw(st.floats(0, 0.03))
        return Window(*span, center=(lat, lon), radius_m=draw(st.floats(100, 2_000)))
    dx = draw(st.floats(0.002, 0.02))
    return Window(*span, polygon=tuple((lat + dx * 0.3, lon + dx * 0.2) for lat, lon in SQUARE))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.lists(windows(), min_size=1, max_size=4), data=st.data(), scoped=st.booleans())
def test_collision_names_exactly_the_subjects_in_k_windows_with_their_first_sighting(
    pool: tuple[pl.DataFrame, list[Path]], chosen: list[Window], data: st.DataObject, scoped: bool
) -> None:
    records, files = pool
    k = data.draw(st.integers(1, len(chosen)))
    areas = ["A1"] if scoped else None
    checked = check_question(chosen, k, None)
    with Engine().session() as engine:
        result = collision(engine, [files] * len(checked), checked, k, areas=areas, limit=10_000)
    got = {
        (h.subject_kind, h.subject): {e.window: (e.event_id, e.seen) for e in h.evidence} for h in result.hits
    }
    assert got == brute_collision(records, checked, k, set(areas) if areas else None)
    ranks = [(-h.windows, -h.sightings, h.subject_kind, h.subject) for h in result.hits]
    assert ranks == sorted(ranks)
    assert all(h.sightings == sum(e.seen for e in h.evidence) for h in result.hits)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    who=st.sampled_from([("plate", "S3"), ("phone", "S11"), ("tag", "S40")]),
    tolerance_s=st.integers(30, 1_800),
    ring=st.integers(0, 2),
    min_places=st.integers(1, 3),
)
def test_companions_are_exactly_those_seen_near_the_target_in_time_and_place(
    pool: tuple[pl.DataFrame, list[Path]], who: tuple[str, str], tolerance_s: int, ring: int, min_places: int
) -> None:
    records, files = pool
    target = records.filter(pl.col("subject_kind") == who[0], pl.col("subject") == who[1]).sort("ts")
    with Engine().session() as engine:
        result = companions(
            engine,
            files,
            target,
            target_kind=who[0],
            target_values=[who[1]],
            start=T0,
            end=T0 + timedelta(hours=HOURS),
            tolerance_s=tolerance_s,
            ring=ring,
            areas=None,
            min_meetings=2,
            min_places=min_places,
        )
    got = {(c.subject_kind, c.subject): (c.places, c.meetings) for c in result.companions}
    want = brute_companions(
        records, who, tolerance_s=tolerance_s, ring=ring, min_meetings=2, min_places=min_places
    )
    assert got == dict(sorted(want.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:500])
    for c in result.companions:
        assert 1 <= len(c.evidence) <= 10
        assert all(abs((m.ts - m.target_ts).total_seconds()) <= tolerance_s for m in c.evidence)


@pytest.mark.parametrize(
    ("target_kind", "mate_kind", "mate_record"),
    [
        ("plate", "phone", "phone_seen"),  # a phone that always rides in a car
        ("phone", "phone", "phone_seen"),  # two phones always together
        ("tag", "id_card", "door_swipe"),  # an e-bike's tag and its rider's identity card
    ],
)
def test_a_planted_pair_travelling_together_comes_first(
    tmp_path: Path, target_kind: str, mate_kind: str, mate_record: str
) -> None:
    base = sightings(3_000, seed=3)
    target_path = base.filter(pl.col("subject_kind") == target_kind, pl.col("subject") == "S5").head(12)
    assert target_path.height >= 8
    # The mate seen within a minute of each of the target's sightings, at the same spot.
    mate = target_path.with_columns(
        pl.lit(mate_kind).alias("subject_kind"),
        pl.lit("TWIN").alias("subject"),
        pl.lit(mate_record).alias("kind"),
        (pl.col("ts") + timedelta(seconds=40)).alias("ts"),
        ("twin-" + pl.col("event_id")).alias("event_id"),
    )
    records = pl.concat([base, mate])
    files = write(records, tmp_path)
    with Engine().session() as engine:
        result = companions(
            engine,
            files,
            target_path,
            target_kind=target_kind,
            target_values=["S5"],
            start=T0,
            end=T0 + timedelta(hours=HOURS),
            tolerance_s=60,
            ring=0,
            areas=None,
        )
    top = result.companions[0]
    assert (top.subject_kind, top.subject, top.meetings) == (mate_kind, "TWIN", target_path.height)


def test_a_collision_naming_too_many_subjects_is_refused_saying_how_to_narrow_it(
    pool: tuple[pl.DataFrame, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, files = pool
    monkeypatch.setattr("safecity.workbench.collision.MAX_HITS", 5)
    whole = Window(T0, T0 + timedelta(hours=HOURS), center=(LAT0 + 0.015, LON0 + 0.015), radius_m=5_000)
    with Engine().session() as engine, pytest.raises(TooLarge, match="raise k"):
        collision(engine, [files], [whole], 1, areas=None)


def test_an_empty_lake_answers_nothing_rather_than_failing() -> None:
    window = Window(T0, T0 + timedelta(hours=1), devices=("D01",))
    with Engine().session() as engine:
        assert collision(engine, [[]], [window], 1, areas=None).hits == []


def _w(**over: object) -> Window:
    fields: dict[str, object] = {"start": T0, "end": T0 + timedelta(hours=1), "devices": ("D01",), **over}
    return Window(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("windows_", "k", "field", "words"),
    [
        ([], 1, "windows", "at least one window"),
        ([_w()], 2, "k", "between 1 and the number of windows (1)"),
        ([_w(), _w()], 0, "k", "between 1"),
        ([_w(end=T0 - timedelta(hours=1))], 1, "windows[0].end", "inverted"),
        ([_w(end=T0)], 1, "windows[0].end", "inverted or empty"),
        ([_w(end=T0 + timedelta(days=9))], 1, "windows[0].end", "at most 7 days"),
        ([_w(devices=())], 1, "windows[0].devices", "it has none"),
        ([_w(center=(LAT0, LON0), radius_m=100)], 1, "windows[0].devices", "exactly one place"),
        ([_w(devices=(), center=(LAT0, LON0), radius_m=0)], 1, "windows[0].radius_m", "more than 0"),
        ([_w(devices=(), center=(LAT0, LON0), radius_m=9_000)], 1, "windows[0].radius_m", "at most 5000"),
        ([_w(devices=(), center=(95.0, LON0), radius_m=10)], 1, "windows[0].center", "not a latitude"),
        ([_w(devices=(), polygon=((LAT0, LON0), (LAT0, LON0 + 1)))], 1, "windows[0].polygon", "3 to 64"),
        (
            [_w(devices=(), polygon=((0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)))],
            1,
            "windows[0].polygon",
            "not a simple polygon",
        ),
        (
            [_w(devices=(), polygon=((30.0, 120.0), (30.5, 120.0), (30.5, 120.5), (30.0, 120.5)))],
            1,
            "windows[0].polygon",
            "more than 100 km²",
        ),
    ],
)
def test_bad_questions_are_refused_naming_the_field(
    windows_: list[Window], k: int, field: str, words: str
) -> None:
    with pytest.raises(QueryRefused) as refused:
        check_question(windows_, k, None)
    assert refused.value.field == field
    assert words in refused.value.message


def test_an_unknown_subject_kind_is_refused() -> None:
    with pytest.raises(QueryRefused, match="unknown subject kind 'unit'"):
        check_question([_w()], 1, ["unit"])
