"""The city's people, their e-bikes and each bike's daily routine, generated as whole columns."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import polars as pl

from safecity.core.ids import id_number_check_char
from safecity.sim import names
from safecity.sim.grid import FloatArray, Grid, IntArray
from safecity.sim.layout import Layout

_PLATE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"  # GA 36: no I, no O
_AGE_REFERENCE = np.datetime64("2025-01-01")
_REGISTERED_FROM = datetime(2019, 3, 1, tzinfo=UTC)  # Wenzhou's tag-fitting campaign began
_REGISTERED_TO = datetime(2024, 6, 30, tzinfo=UTC)  # + up to 540 days for a second bike
PURPOSES = ("work", "school", "market", "delivery")


def _area_index(layout: Layout, grid: Grid, x: IntArray, y: IntArray) -> IntArray:
    bx, by = grid.block_of(x, y)
    return layout.block_community[bx, by]


def _dates_between(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    lo, hi = int(_REGISTERED_FROM.timestamp()), int(_REGISTERED_TO.timestamp())
    return rng.integers(lo, hi, n) * 1000


# GB 11643 weights are 2^(17-i) mod 11; the check character for each residue is taken from
# the core validator so that the two can never disagree.
_ID_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)


def _check_table() -> np.ndarray:
    table = np.empty(11, dtype="<U1")
    filled: set[int] = set()
    for k in range(10_000):
        first17 = f"{k:017d}"
        residue = int(np.dot([int(c) for c in first17], _ID_WEIGHTS) % 11)
        if residue not in filled:
            table[residue] = id_number_check_char(first17)
            filled.add(residue)
        if len(filled) == 11:
            return table
    raise AssertionError("unreachable: every residue occurs in the first 10,000 numbers")


def _digits(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.int64]:
    """Decimal digits (n, width) of non-negative integers, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers[None, :]) % 10


def id_numbers(
    codes: npt.NDArray[np.int64],
    birth: npt.NDArray[np.datetime64],
    male: npt.NDArray[np.bool_],
    rng: np.random.Generator,
) -> pl.Series:
    """GB 11643 numbers; the sequence code is unique per (address, birth date), odd for men."""
    ymd = birth.astype("datetime64[D]")
    year = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    month = ymd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (ymd - ymd.astype("datetime64[M]")).astype(np.int64) + 1
    birth8 = year * 10_000 + month * 100 + day
    _, group, size = np.unique(codes * 10**8 + birth8, return_inverse=True, return_counts=True)
    if size.max() > 498:
        raise ValueError("too many people share an address code and birth date for unique numbers")
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], group[order], side="left")
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - starts
    # Each (address, date) group starts at its own offset, like a real registry office.
    offset = rng.integers(1, np.maximum(2, np.minimum(200, 500 - size)))[group]
    seq = 2 * (offset + rank) + male.astype(np.int64)
    digits = np.concatenate([_digits(codes, 6), _digits(birth8, 8), _digits(seq, 3)], axis=1)
    check = _check_table()[(digits @ _ID_WEIGHTS) % 11]
    return (
        pl.DataFrame({"c": codes, "b": birth8, "s": seq, "k": check})
        .select(
            pl.concat_str(
                pl.col("c").cast(pl.String),
                pl.col("b").cast(pl.String),
                pl.col("s").cast(pl.String).str.zfill(3),
                pl.col("k"),
            )
        )
        .to_series()
    )


def _zfilled(values: npt.NDArray[np.int64], width: int) -> pl.Series:
    return pl.Series(values).cast(pl.String).str.zfill(width)


def _concat(*parts: pl.Series) -> pl.Series:
    return pl.select(pl.concat_str([pl.lit(p) for p in parts])).to_series()


def make_people(count: int, layout: Layout, grid: Grid, rng: np.random.Generator) -> pl.DataFrame:
    """Registered bike owners with valid identity numbers, names, phones and homes."""
    comm = layout.areas.filter(pl.col("kind") == "community")
    size = ((comm["bx1"] - comm["bx0"]) * (comm["by1"] - comm["by0"])).to_numpy()
    weight = size * comm["density"].to_numpy()
    home_comm = rng.choice(len(comm), count, p=weight / weight.sum())
    fx = comm["bx0"].to_numpy()[home_comm] + rng.random(count) * size_x(comm)[home_comm]
    fy = comm["by0"].to_numpy()[home_comm] + rng.random(count) * size_y(comm)[home_comm]
    hx, hy = grid.snap_parking(fx * grid.major_units, fy * grid.major_units, rng.random(count) < 0.5)
    male = rng.random(count) < 0.52
    age_days = (np.clip(rng.normal(40, 13, count), 16, 78) * 365.25).astype(np.int64) + rng.integers(
        0, 365, count
    )
    birth = _AGE_REFERENCE - age_days.astype("timedelta64[D]")
    district_ids = layout.areas.filter(pl.col("kind") == "district")["id"].to_list()
    district_codes = {
        d_id: code
        for d_id, (_, code) in zip(district_ids, names.district_names(len(district_ids)), strict=True)
    }
    comm_code = np.array([district_codes[f"D{cid[1:3]}"] for cid in layout.community_ids])
    home_code = comm_code[_area_index(layout, grid, hx, hy)]
    # A quarter of residents were born in another Wenzhou county.
    codes = np.where(
        rng.random(count) < 0.25,
        np.array(names.ADDRESS_CODES)[rng.integers(0, len(names.ADDRESS_CODES), count)],
        home_code,
    )
    prefix = np.array([13, 15, 17, 18, 19], dtype=np.int64)[rng.integers(0, 5, count)]
    phone = pl.Series(prefix * 10**9 + rng.integers(0, 10**9, count)).cast(pl.String)
    return (
        pl.DataFrame(
            {
                "person_id": np.arange(1, count + 1, dtype=np.int64),
                "id_number": id_numbers(codes.astype(np.int64), birth, male, rng),
                "name": names.person_names(male, rng),
                "phone": phone,
                "home_area_id": names.pick(layout.community_ids, _area_index(layout, grid, hx, hy)),
                "created_at": pl.Series(_dates_between(rng, count)).cast(pl.Datetime("ms", "UTC")),
                "male": male,
                "age": (age_days / 365.25).astype(np.int64),
                "home_x": hx,
                "home_y": hy,
            }
        )
        .sort("id_number")
        .with_columns(person_id=pl.int_range(1, count + 1, dtype=pl.Int64))
    )


def size_x(comm: pl.DataFrame) -> FloatArray:
    """Width in super-blocks of each area row."""
    return (comm["bx1"] - comm["bx0"]).to_numpy().astype(np.float64)


def size_y(comm: pl.DataFrame) -> FloatArray:
    """Height in super-blocks of each area row."""
    return (comm["by1"] - comm["by0"]).to_numpy().astype(np.float64)


def _unique_tags(count: int, rng: np.random.Generator) -> pl.Series:
    tags = rng.integers(1 << 32, 1 << 40, count, dtype=np.int64)
    while True:
        order = np.argsort(tags, kind="stable")
        dup = order[1:][tags[order][1:] == tags[order][:-1]]
        if len(dup) == 0:
            break
        tags[dup] = rng.integers(1 << 32, 1 << 40, len(dup), dtype=np.int64)
    return pl.Series([f"{t:010X}" for t in np.sort(tags).tolist()])


def _affine_serials(count: int, modulus: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Distinct, scattered serial numbers below `modulus` (an affine permutation of 0..count-1)."""
    while True:
        a = int(rng.integers(modulus // 3, modulus))
        if np.gcd(a, modulus) == 1:
            break
    c = int(rng.integers(0, modulus))
    return (np.arange(count, dtype=np.int64) * a + c) % modulus


def make_bikes(
    count: int, people: pl.DataFrame, station_of_area: dict[str, str], rng: np.random.Generator
) -> pl.DataFrame:
    """E-bikes with owners, unique tags, frame numbers, plates, models and colours.

    Bike ids follow tag order and people's ids follow identity-number order: arbitrary for the
    data, but it lets the registry's unique indexes fill in order, which loads ~2x faster.
    """
    n_people = people.height
    owner_idx = np.concatenate(
        [
            rng.permutation(n_people)[: min(count, n_people)],
            rng.integers(0, n_people, max(0, count - n_people)),
        ]
    )
    model, brand, colour = names.bike_models(count, rng)
    created = people["created_at"].cast(pl.Int64).to_numpy()[owner_idx]
    registered = created + rng.integers(0, 540 * 86_400, count) * 1000
    year = pl.Series(registered).cast(pl.Datetime("ms", "UTC")).dt.year().to_numpy() % 100
    serial = np.sort(_affine_serials(count, 10**8, rng))
    frame = _concat(brand, _zfilled(year, 2), _zfilled(serial, 8))
    plate_serial = _affine_serials(count, 34**5, rng)
    letters = [names.pick(_PLATE_ALPHABET, (plate_serial // 34**k) % 34) for k in range(4, -1, -1)]
    plate = _concat(pl.Series(["浙C"]).gather(np.zeros(count, dtype=np.int64)), *letters)
    home_area = people["home_area_id"].gather(owner_idx)
    return pl.DataFrame(
        {
            "bike_id": np.arange(1, count + 1, dtype=np.int64),
            "tag_id": _unique_tags(count, rng),
            "owner_id": people["person_id"].to_numpy()[owner_idx],
            "frame_number": frame,
            "plate": plate,
            "model": model,
            "colour": colour,
            "registered_at": pl.Series(registered).cast(pl.Datetime("ms", "UTC")),
            "registered_by": home_area.replace_strict(station_of_area, return_dtype=pl.String),
        }
    )


def _offset(
    home_x: IntArray, home_y: IntArray, mean_m: float, max_m: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    n = len(home_x)
    dist = np.clip(rng.gamma(2.0, mean_m / 2, n), 300.0, max_m) / 50.0
    angle = rng.uniform(0, 2 * np.pi, n)
    return home_x + dist * np.cos(angle), home_y + dist * np.sin(angle)


def make_routines(
    bikes: pl.DataFrame, people: pl.DataFrame, layout: Layout, grid: Grid, rng: np.random.Generator
) -> pl.DataFrame:
    """Each bike's home, main destination (work, school, market or a courier's depot), errand
    place and habits."""
    n = bikes.height
    owner = bikes["owner_id"].to_numpy() - 1
    hx, hy = people["home_x"].to_numpy()[owner], people["home_y"].to_numpy()[owner]
    age = people["age"].to_numpy()[owner]
    u = rng.random(n)
    purpose = np.select(
        [age < 19, age >= 62, (age >= 20) & (age <= 50) & (u < 0.04)],
        [1, np.where(u < 0.8, 2, 0), 3],  # a few working-age riders are couriers (Wenzhou has many)
        np.where(u < 0.85, 0, np.where(u < 0.95, 2, 1)),
    )
    # Commutes are a few km and lean towards the centre; school, market and a courier's depot
    # (a cluster of restaurants) are close to home.
    wx, wy = _offset(hx, hy, 4500.0, 14_000.0, rng)
    wx, wy = wx + 0.25 * (grid.width_units / 2 - wx), wy + 0.25 * (grid.height_units / 2 - wy)
    nx, ny = _offset(hx, hy, 900.0, 4000.0, rng)
    fx, fy = np.where(purpose == 0, wx, nx), np.where(purpose == 0, wy, ny)
    dx, dy = grid.snap_parking(fx, fy, rng.random(n) < 0.5)
    dx = np.where((dx == hx) & (dy == hy), np.where(dx + 4 < grid.width_units, dx + 4, dx - 4), dx)
    fx, fy = _offset(hx, hy, 900.0, 3000.0, rng)
    ex, ey = grid.snap_parking(fx, fy, rng.random(n) < 0.5)
    ex = np.where((ex == hx) & (ey == hy), np.where(ex + 4 < grid.width_units, ex + 4, ex - 4), ex)
    hour = 3600.0
    am = np.select(
        [purpose == 0, purpose == 1, purpose == 3],
        [rng.normal(7.67, 0.42, n), rng.normal(7.08, 0.2, n), rng.normal(9.9, 0.2, n)],
        rng.normal(9.0, 0.67, n),
    )
    am = np.clip(am, 6.0, 11.0) * hour
    pm = np.select(
        [purpose == 0, purpose == 1, purpose == 3],
        [rng.normal(17.83, 0.58, n), rng.normal(17.0, 0.25, n), rng.normal(20.8, 0.3, n)],
        am / hour + rng.uniform(1.0, 3.0, n),
    )
    pm = np.clip(pm, 12.0, 22.0) * hour
    errand_p = np.where(purpose == 3, 0.0, rng.uniform(0.15, 0.5, n))
    area = names.pick(layout.community_ids, _area_index(layout, grid, dx, dy))
    return pl.DataFrame(
        {
            "bike_id": bikes["bike_id"],
            "purpose": names.pick(PURPOSES, purpose),
            "home_x": hx,
            "home_y": hy,
            "dest_x": dx,
            "dest_y": dy,
            "dest_area_id": area,
            "errand_x": ex,
            "errand_y": ey,
            "depart_am_s": am.round().astype(np.int64),
            "depart_pm_s": pm.round().astype(np.int64),
            "errand_p": errand_p.round(3),
            "errand_s": (np.clip(rng.normal(19.5, 0.67, n), 18.0, 21.5) * hour).round().astype(np.int64),
            "speed_kmh": np.clip(rng.normal(18.0, 3.0, n), 12.0, 25.0).round(1),
            "route_hfirst": rng.random(n) < 0.5,
            "route_u": rng.random(n).round(4),
        }
    )
