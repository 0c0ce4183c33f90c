"""A week at the doors of a generated city: tenants come home through their own doors, every warning
kind is planted with its ground truth, passes cover the visitors' swipes, and the same seed gives
the same week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from safecity.core.ids import is_valid_id_number
from safecity.sim import City
from safecity.sim.doorlife import DoorLife, door_life
from safecity.sim.housing import HousingScale, make_housing

START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday 08:00 in Wenzhou
KINDS = {
    "housing_denied_attempts",
    "housing_unknown_card",
    "housing_group_renting",
    "housing_many_compounds",
    "housing_unusual_hours",
    "housing_dormant_tenant",
    "hotlist",
}


@pytest.fixture(scope="module")
def tables(tiny_city: City) -> dict[str, pl.DataFrame]:
    scale = HousingScale("t", door_systems=60, tenants=1500, shops=10)
    return make_housing(tiny_city, scale, np.random.default_rng(2))


@pytest.fixture(scope="module")
def life(tables: dict[str, pl.DataFrame]) -> DoorLife:
    return door_life(tables, start=START, days=7, seed=3, plants=3)


def test_tenants_come_home_through_their_own_doors_in_the_week(
    tables: dict[str, pl.DataFrame], life: DoorLife
) -> None:
    swipes = life.swipes
    assert swipes["ts"].min() >= START and swipes["ts"].max() < START + timedelta(days=7)  # type: ignore[operator]
    assert swipes["ts"].is_sorted()
    listed = swipes.filter(pl.col("reason") == "listed")
    allowed = (
        tables["tenancies"]
        .join(tables["people"], on="person_id")
        .join(tables["doors"], on="compound_id")
        .filter(
            pl.col("building_id_right").is_null() | (pl.col("building_id_right") == pl.col("building_id"))
        )
        .select(pl.col("device_id").alias("device"), pl.col("id_number").alias("card"))
    )
    assert listed.join(allowed, on=["device", "card"], how="anti").is_empty()
    # Most tenants come home on most days: about 0.93 + 0.15 entries a day (and a gate swipe).
    per_day = listed.filter(pl.col("device").str.ends_with("-GATE").not_()).height / 7
    assert 0.9 * tables["tenancies"].height < per_day < 1.25 * tables["tenancies"].height


def test_every_warning_kind_is_planted_with_what_it_is_about(life: DoorLife) -> None:
    assert set(life.truth["rule_kind"]) == KINDS
    assert life.truth.group_by("rule_kind").len()["len"].min() == 3
    for refs in life.truth["refs"].to_list():
        assert refs and all(":" in r for r in refs)
        for ref in refs:
            if ref.startswith("card:"):
                assert is_valid_id_number(ref.removeprefix("card:"))
    assert (life.truth["start"] <= life.truth["end"]).all()


def test_moved_out_tenants_never_swipe_and_denials_are_only_the_planted_ones(
    tables: dict[str, pl.DataFrame], life: DoorLife
) -> None:
    gone = life.moved_out.join(tables["tenancies"].rename({"id": "tenancy_id"}), on="tenancy_id").join(
        tables["people"], on="person_id"
    )
    assert gone.height == 3
    assert life.swipes.join(gone.select(pl.col("id_number").alias("card")), on="card", how="semi").is_empty()
    denied = life.swipes.filter(~pl.col("granted"))
    assert denied.height == 3 * 6 + 3 * 3  # six tries at a door, three doors of an unknown card


def test_visitors_swipe_within_their_passes(life: DoorLife) -> None:
    visits = life.swipes.filter(pl.col("reason") == "visitor")
    covered = visits.join(life.passes.rename({"id_number": "card"}), on="card").filter(
        (pl.col("ts") >= pl.col("valid_from")) & (pl.col("ts") < pl.col("valid_until"))
    )
    assert covered.select("card", "ts").unique().height == visits.select("card", "ts").unique().height


def test_the_same_seed_gives_the_same_week(tables: dict[str, pl.DataFrame], life: DoorLife) -> None:
    again = door_life(tables, start=START, days=7, seed=3, plants=3)
    assert again.swipes.equals(life.swipes) and again.truth.equals(life.truth)
    other = door_life(tables, start=START, days=7, seed=4, plants=3)
    assert not other.swipes.equals(life.swipes)


def test_with_a_focus_the_incidents_at_one_place_and_the_wanted_are_planted_there(
    tables: dict[str, pl.DataFrame],
) -> None:
    """The demo plants them in its community accounts' community (found missing from outside)."""
    counts = tables["compounds"].group_by("community_id").len().sort("len", descending=True)
    community = counts["community_id"][0]
    focus = tables["compounds"].filter(pl.col("community_id") == community)["id"].to_list()
    doors_there = set(tables["doors"].filter(pl.col("compound_id").is_in(focus))["device_id"].to_list())

    life = door_life(tables, start=START, days=1, seed=5, plants=1, focus=focus)

    truth = {row["rule_kind"]: row["refs"] for row in life.truth.iter_rows(named=True)}
    [denied_door] = [r.removeprefix("door:") for r in truth["housing_denied_attempts"]]
    assert denied_door in doors_there
    unknown_card = truth["housing_unknown_card"][0].removeprefix("card:")
    tried = set(life.swipes.filter(pl.col("card") == unknown_card)["device"].to_list())
    assert tried and tried <= doors_there
    wanted_home = tables["tenancies"].filter(pl.col("person_id").is_in(life.wanted["person_id"].implode()))
    assert set(wanted_home["compound_id"].to_list()) <= set(focus)
