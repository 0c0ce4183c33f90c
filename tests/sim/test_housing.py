"""Generating a city's rental housing: exact door count, consistent tables, valid and separate identity
numbers, sub-landlords with many flats, determinism, and the seed's Wenzhou size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from safecity.core.ids import is_valid_id_number
from safecity.sim import City, generate_city
from safecity.sim.housing import (
    HOUSING_SCALES,
    TABLES,
    Housing,
    HousingScale,
    ensure_housing,
    generate_housing,
    make_housing,
)


@pytest.fixture(scope="module")
def housing(tiny_city: City) -> dict[str, pl.DataFrame]:
    return make_housing(
        tiny_city, HousingScale("t", door_systems=60, tenants=1500, shops=20), np.random.default_rng(1)
    )


def test_the_door_count_is_exact_and_every_door_guards_a_place(housing: dict[str, pl.DataFrame]) -> None:
    doors, buildings, compounds = housing["doors"], housing["buildings"], housing["compounds"]
    assert doors["device_id"].n_unique() == doors.height
    shop_doors = doors.filter(pl.col("shop_id").is_not_null())
    assert sorted(shop_doors["shop_id"]) == sorted(housing["shops"]["id"])
    doors = doors.filter(pl.col("shop_id").is_null())
    assert doors.height == 60
    entrances = doors.filter(pl.col("building_id").is_not_null())
    assert sorted(entrances["building_id"]) == sorted(buildings["id"])
    gates = doors.filter(pl.col("building_id").is_null())
    assert sorted(gates["compound_id"]) == sorted(compounds.filter("gated")["id"])
    assert set(doors["area_id"]) <= set(compounds["community_id"])


def test_tenants_fit_their_flats_and_every_flat_has_a_landlord(housing: dict[str, pl.DataFrame]) -> None:
    flats, tenancies, landlords = housing["flats"], housing["tenancies"], housing["landlords"]
    per_flat = tenancies.group_by("flat_id").len().join(flats, left_on="flat_id", right_on="id")
    assert (per_flat["len"] <= per_flat["capacity"]).all()
    assert 0.6 * 1500 < tenancies.height < 1.4 * 1500
    assert set(flats["landlord_id"]) == set(landlords["id"])
    assert tenancies["person_id"].n_unique() == tenancies.height  # one open tenancy each
    assert set(tenancies["flat_id"]) <= set(flats["id"])


def test_sub_landlords_run_many_flats_and_owners_a_few(housing: dict[str, pl.DataFrame]) -> None:
    lets = (
        housing["flats"]
        .group_by("landlord_id")
        .len()
        .join(housing["landlords"], left_on="landlord_id", right_on="id")
    )
    subs = lets.filter(pl.col("kind") == "sub_landlord")["len"]
    owners = lets.filter(pl.col("kind") == "owner")["len"]
    assert subs.len() >= 1 and subs.max() == 30  # type: ignore[comparison-overlap]
    assert owners.max() <= 3  # type: ignore[operator]


def test_people_have_valid_unique_numbers_apart_from_the_bike_owners(
    housing: dict[str, pl.DataFrame], tiny_city: City
) -> None:
    people = housing["people"]
    assert people["id_number"].n_unique() == people.height
    assert all(is_valid_id_number(n) for n in people["id_number"].to_list())
    owners = tiny_city.table("people")
    assert people["person_id"].min() > owners["person_id"].max()  # type: ignore[operator]
    assert not set(people["id_number"]) & set(owners["id_number"])
    assert people["home_area_id"].null_count() == 0
    tenants = people.join(housing["tenancies"], on="person_id")
    assert not tenants["id_number"].str.starts_with("3303").any()  # migrants: numbers of other provinces


def test_routines_put_day_workers_out_in_the_day_and_night_workers_at_night(
    housing: dict[str, pl.DataFrame],
) -> None:
    t = housing["tenancies"]
    day, night = t.filter(~pl.col("night_shift")), t.filter(pl.col("night_shift"))
    assert 6 * 60 < day["leave_min"].median() < 9 * 60  # type: ignore[operator]
    assert 17 * 60 < day["back_min"].median() < 20 * 60  # type: ignore[operator]
    assert night.height > 0 and 17 * 60 < night["leave_min"].median() < 21 * 60  # type: ignore[operator]


def test_generation_is_deterministic_and_reopened_from_its_folder(tmp_path: Path) -> None:
    a = generate_city(seed=3, scale="tiny", out_dir=tmp_path / "a")
    b = generate_city(seed=3, scale="tiny", out_dir=tmp_path / "b")
    first, second = generate_housing(a, seed=9), generate_housing(b, seed=9)
    for name in TABLES:
        assert (first.folder / f"{name}.parquet").read_bytes() == (
            second.folder / f"{name}.parquet"
        ).read_bytes()
    tiny = HOUSING_SCALES["tiny"]
    assert Housing.open(a).counts["doors"] == tiny.door_systems + tiny.shops
    assert ensure_housing(a, seed=9).meta == first.meta
    numbers = first.table("people")["id_number"]
    other = ensure_housing(a, seed=10)  # another seed: generated again
    assert other.meta["seed"] == 10
    assert not other.table("people")["id_number"].equals(numbers)


def test_the_wenzhou_scale_is_the_seeds_size() -> None:
    scale = HOUSING_SCALES["wenzhou"]
    assert (scale.door_systems, scale.tenants) == (23_671, 1_400_000)
    with pytest.raises(ValueError, match="door systems"):
        HousingScale("bad", door_systems=10, tenants=5, shops=0)


def test_no_one_in_the_housing_has_a_bike_owners_number_at_the_demos_size(tmp_path: Path) -> None:
    """Found running the accuracy benchmark: landlords (Wenzhou numbers) drew bike owners' numbers."""
    city = generate_city(seed=2027, scale="demo", out_dir=tmp_path / "demo")
    people = make_housing(
        city, HOUSING_SCALES["demo"], np.random.default_rng(np.random.SeedSequence([2027, 10]))
    )["people"]
    assert people["id_number"].n_unique() == people.height
    assert not set(people["id_number"]) & set(city.table("people")["id_number"])
