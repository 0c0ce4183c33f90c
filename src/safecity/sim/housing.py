"""The city's rental housing, generated as whole columns: compounds, buildings and their door
controllers, flats, landlords and sub-landlords, tenants with their daily routines, and shops with
their staff.

Sizes follow the seed reports: Wenzhou runs 23,671 door systems for about 1.4 million migrant
tenants (`HOUSING_SCALES["wenzhou"]`); a sub-landlord (二房东) runs about 30 flats; old compounds
have no gate (a controller at each building's entrance), newer ones a gate as well. Tenants are
migrants (identity numbers of other provinces, so never a bike owner's number); a share of them
work nights. What a tenant does each day (leave, come back) is a routine, turned into swipes by
the door-controller simulation; the planted incidents with their ground truth are added there.
The same city and seed give the same tables.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from safecity.sim import names
from safecity.sim.city import City
from safecity.sim.grid import Grid
from safecity.sim.population import id_numbers
from safecity.sim.shopstaff import shop_staff_of

# Where Wenzhou's migrants come from (county-level codes of Anhui, Jiangxi, Henan, Hubei,
# Hunan, Guizhou, Sichuan, Chongqing, Yunnan): never a Wenzhou code, so never a bike owner's.
ORIGIN_CODES = (
    341221, 341222, 341225, 341282, 360721, 360722, 360731, 360781, 411323, 411324, 411381,
    412721, 420921, 421023, 430524, 430525, 431121, 520121, 520221, 522121, 510722, 511323,
    513723, 500228, 500229, 500230, 532128, 532129,
)  # fmt: skip
LANDLORD_CODES = (330302, 330303, 330304, 330381, 330382)  # Wenzhou's own districts

MINUTE = 60_000  # ms


@dataclass(frozen=True, slots=True)
class HousingScale:
    """How much rental housing a city of one scale holds."""

    name: str
    door_systems: int  # housing door controllers: one per building entrance, one per gated compound's gate
    # (a shop's anti-theft door is one more controller, beside these)
    tenants: int  # about; occupancy is drawn per flat
    shops: int
    gated_share: float = 0.3
    sub_landlord_flats: int = 30  # flats one sub-landlord runs
    sub_landlord_share: float = 0.35  # share of flats let by sub-landlords
    night_shift_share: float = 0.08

    def __post_init__(self) -> None:
        if not 1 <= self.door_systems <= self.tenants:
            raise ValueError(f"housing scale {self.name!r} needs 1 <= door systems <= tenants")


HOUSING_SCALES: dict[str, HousingScale] = {
    s.name: s
    for s in (
        HousingScale("tiny", door_systems=40, tenants=600, shops=12),
        HousingScale("demo", door_systems=1_200, tenants=36_000, shops=300),
        HousingScale("wenzhou", door_systems=23_671, tenants=1_400_000, shops=5_000),
    )
}

TABLES = (
    "compounds",
    "buildings",
    "doors",
    "flats",
    "landlords",
    "people",
    "tenancies",
    "shops",
    "shop_staff",
)
FOLDER, META_FILE = "housing", "housing.json"


@dataclass(frozen=True)
class Housing:
    """A city's generated housing on disk (`<city>/housing/`): its metadata, tables read on demand."""

    folder: Path
    meta: dict[str, Any]

    @classmethod
    def open(cls, city: City) -> Housing:
        """The housing generated for `city` (FileNotFoundError if none is)."""
        folder = city.out_dir / FOLDER
        path = folder / META_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no housing in {folder}: {META_FILE} is missing (generate it first)")
        return cls(folder, json.loads(path.read_text(encoding="utf-8")))

    @property
    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return dict(self.meta["counts"])

    def table(self, name: str) -> pl.DataFrame:
        """One of the housing tables (see TABLES)."""
        if name not in TABLES:
            raise ValueError(f"unknown housing table {name!r}; the tables are {', '.join(TABLES)}")
        return pl.read_parquet(self.folder / f"{name}.parquet")


def generate_housing(city: City, *, seed: int, scale: str | HousingScale | None = None) -> Housing:
    """Generate the housing of `city` (at the scale of its own name unless given) and write it."""
    spec = scale if isinstance(scale, HousingScale) else HOUSING_SCALES[scale or city.scale.name]
    folder = city.out_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_FILE).unlink(missing_ok=True)  # a half-written set must not look complete
    tables = make_housing(city, spec, np.random.default_rng(np.random.SeedSequence([seed, 10])))
    for name in TABLES:
        tables[name].write_parquet(folder / f"{name}.parquet", compression="zstd", statistics=False)
    meta = {"seed": seed, "scale": asdict(spec), "counts": {n: t.height for n, t in tables.items()}}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Housing(folder, meta)


def ensure_housing(city: City, *, seed: int) -> Housing:
    """The city's housing, generated first if missing or made from another seed or scale."""
    try:
        found = Housing.open(city)
    except FileNotFoundError:
        return generate_housing(city, seed=seed)
    stale = found.meta["seed"] != seed or found.meta["scale"]["name"] != city.scale.name
    if stale or set(TABLES) - set(found.counts):  # made before a table was added (shop staff)
        return generate_housing(city, seed=seed)
    return found


def make_housing(city: City, scale: HousingScale, rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Every housing table of `city` at `scale` (people numbered after the city's own)."""
    areas = city.table("areas")
    comm = areas.filter(pl.col("kind") == "community")
    grid = city.grid
    compounds, buildings = _compounds_and_buildings(comm, grid, scale, rng)
    doors = _doors(compounds, buildings)
    flats = _flats(buildings, scale, rng)
    occupants = rng.binomial(flats["capacity"].to_numpy(), 0.0 + _occupancy(flats, scale))
    first_person = int(city.table("people")["person_id"].max() or 0) + 1  # type: ignore[arg-type]
    landlords, flat_landlord = _landlords(flats, scale, rng)
    flats = flats.with_columns(landlord_id=pl.Series(flat_landlord))
    n_tenants = int(occupants.sum())
    shop_count = scale.shops
    taken = set(city.table("people")["id_number"].to_list())  # bike owners: Wenzhou numbers too
    people = _people(n_tenants, landlords.height, shop_count, first_person, rng, taken=taken)
    landlords = landlords.with_columns(
        person_id=people["person_id"][n_tenants : n_tenants + landlords.height]
    )
    tenancies = _tenancies(flats, buildings, compounds, occupants, people.head(n_tenants), scale, rng)
    shops = _shops(comm, grid, people["person_id"][-shop_count:], rng) if shop_count else _no_shops()
    # Where each lives: a tenant in their flat's community, a landlord in that of their first flat,
    # a shop owner above the shop.
    first_flat = (
        flats.select("landlord_id", "building_id")
        .join(buildings.select(pl.col("id").alias("building_id"), "compound_id"), on="building_id")
        .join(compounds.select(pl.col("id").alias("compound_id"), "community_id"), on="compound_id")
        .group_by("landlord_id")
        .agg(pl.col("community_id").first())
        .join(landlords.select(pl.col("id").alias("landlord_id"), "person_id"), on="landlord_id")
    )
    homes = pl.concat(
        [
            tenancies.select("person_id", "community_id"),
            first_flat.select("person_id", "community_id"),
            shops.select(pl.col("owner_person_id").alias("person_id"), "community_id"),
        ]
    ).unique("person_id", keep="first")
    people = people.join(homes.rename({"community_id": "home_area_id"}), on="person_id", how="left")
    shop_doors = shops.select(
        ("DC-SHOP-" + pl.col("id").cast(pl.String).str.zfill(5)).alias("device_id"),
        pl.lit(None, pl.String).alias("compound_id"),
        pl.lit(None, pl.String).alias("building_id"),
        pl.col("id").alias("shop_id"),
        (pl.col("name") + "店门").alias("name"),
        "lat",
        "lon",
        pl.col("community_id").alias("area_id"),
    )
    doors = pl.concat(
        [doors.with_columns(shop_id=pl.lit(None, pl.Int64)).select(shop_doors.columns), shop_doors]
    )
    # Shop staff are drawn last, so the rest of the city is what it was before shops had staff.
    everyone = taken | set(people["id_number"])
    after = int(people["person_id"].max() or 0) + 1  # type: ignore[arg-type]
    staff_people, shop_staff = shop_staff_of(
        shops, rng, lambda n: _people(n, 0, 0, after, rng, taken=everyone)
    )
    return {
        "compounds": compounds,
        "buildings": buildings,
        "doors": doors,
        "flats": flats,
        "landlords": landlords,
        "people": pl.concat([people, staff_people], how="diagonal_relaxed"),
        "tenancies": tenancies.drop("community_id"),
        "shops": shops,
        "shop_staff": shop_staff,
    }


def _occupancy(flats: pl.DataFrame, scale: HousingScale) -> float:
    """The share of beds let, so that the whole city holds about `scale.tenants`."""
    return min(0.98, scale.tenants / max(1, int(flats["capacity"].sum())))


def _compounds_and_buildings(
    comm: pl.DataFrame, grid: Grid, scale: HousingScale, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Compounds (gated or not) in communities by population density; buildings around each."""
    guess = int(scale.door_systems / (3.5 + scale.gated_share) * 1.3) + 4
    sizes = 1 + rng.poisson(2.5, guess)  # buildings per compound
    gated = rng.random(guess) < scale.gated_share
    doors = np.cumsum(sizes + gated)
    n = int(np.searchsorted(doors, scale.door_systems)) + 1
    sizes, gated = sizes[:n].copy(), gated[:n]
    sizes[-1] -= int(doors[n - 1]) - scale.door_systems  # the last compound makes the count exact
    if sizes[-1] < 1:  # its gate alone would be over: drop the gate instead
        sizes[-1], gated = 1, np.concatenate([gated[:-1], [False]])
    area = ((comm["bx1"] - comm["bx0"]) * (comm["by1"] - comm["by0"])).to_numpy().astype(np.float64)
    weight = area * comm["density"].to_numpy()
    where = rng.choice(comm.height, n, p=weight / weight.sum())
    units = grid.major_units
    cx = (
        comm["bx0"].to_numpy()[where] + rng.random(n) * (comm["bx1"] - comm["bx0"]).to_numpy()[where]
    ) * units
    cy = (
        comm["by0"].to_numpy()[where] + rng.random(n) * (comm["by1"] - comm["by0"]).to_numpy()[where]
    ) * units
    ids = [f"CP{i:06d}" for i in range(1, n + 1)]
    place = names.place_names(min(n, 1000), rng)
    suffix = np.array(["小区", "花园", "新村", "公寓", "家园", "苑"])
    compound_names = [
        f"{place[i % len(place)]}{suffix[i % len(suffix)]}"
        + (f"{i // len(place) + 1}期" if i >= len(place) else "")
        for i in range(n)
    ]
    compounds = pl.DataFrame(
        {
            "id": ids,
            "name": compound_names,
            "community_id": names.pick(comm["id"].to_list(), where),
            "gated": gated,
            "lat": grid.lat(cy),
            "lon": grid.lon(cx),
            "buildings": sizes,
        }
    )
    owner = np.repeat(np.arange(n), sizes)
    number = np.arange(len(owner)) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
    # Buildings stand within about 60 m of the compound's centre (1 unit = 50 m).
    bx, by = cx[owner] + rng.uniform(-1.2, 1.2, len(owner)), cy[owner] + rng.uniform(-1.2, 1.2, len(owner))
    buildings = pl.DataFrame(
        {
            "id": [f"{ids[o]}-B{k:02d}" for o, k in zip(owner.tolist(), number.tolist(), strict=True)],
            "compound_id": names.pick(ids, owner),
            "name": [f"{k}号楼" for k in number.tolist()],
            "lat": grid.lat(by),
            "lon": grid.lon(bx),
        }
    )
    return compounds, buildings


def _doors(compounds: pl.DataFrame, buildings: pl.DataFrame) -> pl.DataFrame:
    """A controller at every building's entrance, and at the gate of every gated compound."""
    entrances = buildings.join(compounds.select("id", "community_id"), left_on="compound_id", right_on="id")
    entrance = entrances.select(
        ("DC-" + pl.col("id")).alias("device_id"),
        "compound_id",
        pl.col("id").alias("building_id"),
        (pl.col("name") + "单元门").alias("name"),
        "lat",
        "lon",
        pl.col("community_id").alias("area_id"),
    )
    gates = compounds.filter(pl.col("gated")).select(
        ("DC-" + pl.col("id") + "-GATE").alias("device_id"),
        pl.col("id").alias("compound_id"),
        pl.lit(None, pl.String).alias("building_id"),
        (pl.col("name") + "大门").alias("name"),
        "lat",
        "lon",
        pl.col("community_id").alias("area_id"),
    )
    return pl.concat([entrance, gates]).sort("device_id")


def _flats(buildings: pl.DataFrame, scale: HousingScale, rng: np.random.Generator) -> pl.DataFrame:
    """Flats per building sized so that the city's beds hold its tenants at about 85 % occupancy."""
    b = buildings.height
    per_building = max(2, round(scale.tenants / (0.85 * 3.0 * b)))
    counts = np.maximum(2, rng.poisson(per_building, b))
    building = np.repeat(np.arange(b), counts)
    k = np.arange(len(building)) - np.repeat(np.cumsum(counts) - counts, counts)
    floor, door = k // 4 + 1, k % 4 + 1
    dormitory = rng.random(len(building)) < 0.03  # staff quarters: many beds by design
    capacity = np.where(
        dormitory, rng.integers(8, 13, len(building)), rng.choice([1, 2, 2, 3, 3, 4, 4, 5, 6], len(building))
    )
    return pl.DataFrame(
        {
            "id": np.arange(1, len(building) + 1, dtype=np.int64),
            "building_id": buildings["id"].gather(building),
            "number": [f"{f}{d:02d}" for f, d in zip(floor.tolist(), door.tolist(), strict=True)],
            "capacity": capacity.astype(np.int64),
            "use": np.where(dormitory, "dormitory", "residential"),
        }
    )


def _landlords(
    flats: pl.DataFrame, scale: HousingScale, rng: np.random.Generator
) -> tuple[pl.DataFrame, npt.NDArray[np.int64]]:
    """Sub-landlords run runs of about 30 neighbouring flats; owners let one to three of their own."""
    n = flats.height
    by_sub = rng.random(n) < scale.sub_landlord_share
    # Neighbouring flats (same building, then compound: the order of `flats`) go to the same one.
    sub_idx = np.cumsum(by_sub) - 1
    sub_of = sub_idx // scale.sub_landlord_flats
    owners_run = np.cumsum(~by_sub) - 1
    owner_of = owners_run // rng.integers(1, 4)  # one draw: every owner lets the same number here
    subs = int(sub_of[by_sub].max()) + 1 if by_sub.any() else 0
    owners = int(owner_of[~by_sub].max()) + 1 if (~by_sub).any() else 0
    landlord = np.where(by_sub, sub_of, subs + owner_of) + 1
    table = pl.DataFrame(
        {
            "id": np.arange(1, subs + owners + 1, dtype=np.int64),
            "kind": ["sub_landlord"] * subs + ["owner"] * owners,
        }
    )
    return table, landlord.astype(np.int64)


def _people(
    tenants: int,
    landlords: int,
    shop_owners: int,
    first: int,
    rng: np.random.Generator,
    *,
    taken: set[str],
) -> pl.DataFrame:
    """Tenants (migrants, 18-60), then landlords and shop owners (Wenzhou people, 30-75), none
    with a number in `taken` (the city's own people)."""
    n = tenants + landlords + shop_owners
    local = np.arange(n) >= tenants
    male = rng.random(n) < 0.55
    young = rng.normal(32, 9, n)
    young = np.where((young < 18) | (young > 60), rng.uniform(18, 60, n), young)  # no pile at the bounds
    age = np.where(local, rng.uniform(30, 75, n), young)
    birth = np.datetime64("2025-01-01") - (age * 365.25).astype(np.int64).astype("timedelta64[D]")
    codes = np.where(
        local,
        np.array(LANDLORD_CODES)[rng.integers(0, len(LANDLORD_CODES), n)],
        np.array(ORIGIN_CODES)[rng.integers(0, len(ORIGIN_CODES), n)],
    ).astype(np.int64)
    prefix = np.array([13, 15, 17, 18, 19], dtype=np.int64)[rng.integers(0, 5, n)]
    return pl.DataFrame(
        {
            "person_id": np.arange(first, first + n, dtype=np.int64),
            "id_number": _fresh_numbers(codes, birth, male, rng, taken),
            "name": names.person_names(male, rng),
            "phone": pl.Series(prefix * 10**9 + rng.integers(0, 10**9, n)).cast(pl.String),
        }
    )


def _fresh_numbers(
    codes: npt.NDArray[np.int64],
    birth: npt.NDArray[np.datetime64],
    male: npt.NDArray[np.bool_],
    rng: np.random.Generator,
    taken: set[str],
) -> pl.Series:
    """Identity numbers unique among themselves and not in `taken`: a clash is born a day later."""
    numbers = id_numbers(codes, birth, male, rng)
    for _ in range(50):
        values = numbers.to_numpy()
        clash = (
            np.isin(values, np.array(sorted(taken), dtype=values.dtype)) | numbers.is_duplicated().to_numpy()
        )
        if not clash.any():
            return numbers
        birth = np.where(clash, birth + np.timedelta64(1, "D"), birth)
        numbers = id_numbers(codes, birth, male, rng)
    raise ValueError("could not draw identity numbers apart from the city's people")


def _tenancies(
    flats: pl.DataFrame,
    buildings: pl.DataFrame,
    compounds: pl.DataFrame,
    occupants: npt.NDArray[np.int64],
    tenants: pl.DataFrame,
    scale: HousingScale,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """One open tenancy per tenant, with the routine the door simulation follows each day."""
    flat = np.repeat(np.arange(flats.height), occupants)
    n = len(flat)
    night = rng.random(n) < scale.night_shift_share
    # Local minutes after midnight: day workers leave about 07:30 and come back about 18:30;
    # night workers the other way round.
    leave = np.where(night, rng.normal(19 * 60, 40, n), rng.normal(7.5 * 60, 45, n)) % 1440
    back = np.where(night, rng.normal(7.5 * 60, 40, n), rng.normal(18.5 * 60, 70, n)) % 1440
    where = (
        flats.select("id", "building_id")
        .join(buildings.select(pl.col("id").alias("building_id"), "compound_id"), on="building_id")
        .join(compounds.select(pl.col("id").alias("compound_id"), "community_id"), on="compound_id")
    )
    days = rng.integers(1, 900, n)
    return pl.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "flat_id": flats["id"].gather(flat),
            "person_id": tenants["person_id"],
            "since_days": days.astype(np.int64),  # moved in this many days before the simulation starts
            "night_shift": night,
            "leave_min": leave.astype(np.int64),
            "back_min": back.astype(np.int64),
        }
    ).join(where.rename({"id": "flat_id"}), on="flat_id", how="left")


def _shops(comm: pl.DataFrame, grid: Grid, owners: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """Shops on the commercial streets of the densest communities, with their opening hours."""
    n = len(owners)
    weight = comm["density"].to_numpy() ** 2
    where = rng.choice(comm.height, n, p=weight / weight.sum())
    units = grid.major_units
    x = (
        comm["bx0"].to_numpy()[where] + rng.random(n) * (comm["bx1"] - comm["bx0"]).to_numpy()[where]
    ) * units
    y = (
        comm["by0"].to_numpy()[where] + rng.random(n) * (comm["by1"] - comm["by0"]).to_numpy()[where]
    ) * units
    opens = rng.choice(["08:00", "08:30", "09:00", "10:00"], n)
    closes = rng.choice(["20:00", "21:00", "21:30", "22:00"], n)
    trade = np.array(["便利店", "手机店", "金店", "药店", "服装店", "五金店", "烟酒店"])[
        rng.integers(0, 7, n)
    ]
    return pl.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "name": [f"{names.SURNAMES[i % len(names.SURNAMES)]}记{t}" for i, t in enumerate(trade.tolist())],
            "community_id": names.pick(comm["id"].to_list(), where),
            "owner_person_id": owners,
            "lat": grid.lat(y),
            "lon": grid.lon(x),
            "opens": opens,
            "closes": closes,
        }
    )


def _no_shops() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "id": pl.Int64,
            "name": pl.String,
            "community_id": pl.String,
            "owner_person_id": pl.Int64,
            "lat": pl.Float64,
            "lon": pl.Float64,
            "opens": pl.String,
            "closes": pl.String,
        }
    )


__all__ = [
    "HOUSING_SCALES",
    "TABLES",
    "Housing",
    "HousingScale",
    "ensure_housing",
    "generate_housing",
    "make_housing",
]
