"""The smart-community side of a generated city's housing: alarm panels with their zones, gate
plate cameras and the residents' registered vehicles.

Every compound gets the retrofit of a smart community centre (Tianjin's seed: gate plate
recognition and infrared perimeter alarms): one alarm panel with a perimeter zone (`Z1`, armed
at night, 22:00 to 06:00 local) and a garage zone (`Z2`, armed all the time), and one plate
camera at its vehicle entrance. About one tenancy in six has a car registered to its compound
(Zhejiang plates, 浙C); visitors' and planted vehicles get plates of other provinces, so they
never collide with a resident's. Generated from the housing tables (sim.housing) alone: the same
tables and seed give the same community tables.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

PANEL_PREFIX, CAMERA_PREFIX = "AP-", "PC-"
PERIMETER, GARAGE = "Z1", "Z2"
NIGHT = {d: [["22:00", "06:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
CAR_SHARE = 0.16  # tenancies with a registered car
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates
COMMUNITY_TABLES = ("devices", "alarm_zones", "vehicles")


def make_community(housing: dict[str, pl.DataFrame], rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Panels and cameras (`devices`), `alarm_zones` and `vehicles` for the compounds of `housing`."""
    compounds = housing["compounds"].sort("id")
    devices = pl.concat(
        [
            compounds.select(
                (pl.lit(prefix) + pl.col("id")).alias("device_id"),
                pl.lit(kind).alias("kind"),
                (pl.col("name") + label).alias("name"),
                "lat",
                "lon",
                pl.col("community_id").alias("area_id"),
                pl.col("id").alias("compound_id"),
            )
            for prefix, kind, label in (
                (PANEL_PREFIX, "alarm_panel", "报警主机"),
                (CAMERA_PREFIX, "plate_camera", "车辆道闸"),
            )
        ]
    )
    return {"devices": devices, "alarm_zones": _zones(compounds), "vehicles": _vehicles(housing, rng)}


def _zones(compounds: pl.DataFrame) -> pl.DataFrame:
    """Two zones per compound's panel: the perimeter armed at night, the garage always."""
    night = json.dumps(NIGHT)
    rows: list[tuple[str, str, str, str, str | None]] = []
    for compound in compounds["id"].to_list():
        rows.append((PANEL_PREFIX + compound, PERIMETER, "周界围墙", compound, night))
        rows.append((PANEL_PREFIX + compound, GARAGE, "地下车库", compound, None))
    frame = pl.DataFrame(
        rows,
        schema={
            "device_id": pl.String,
            "zone": pl.String,
            "name": pl.String,
            "compound_id": pl.String,
            "armed_hours": pl.String,
        },
        orient="row",
    )
    return frame.with_row_index("id", offset=1).with_columns(
        pl.col("id").cast(pl.Int64), shop_id=pl.lit(None, pl.Int64)
    )


def _vehicles(housing: dict[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
    """A car for about one tenancy in six, registered to its compound with a Wenzhou plate."""
    tenancies = housing["tenancies"].sort("id")
    owners = tenancies.filter(pl.Series(rng.random(tenancies.height) < CAR_SHARE))
    return pl.DataFrame(
        {
            "id": np.arange(1, owners.height + 1, dtype=np.int64),
            "compound_id": owners["compound_id"],
            "plate": plates("浙C", owners.height, rng),
            "person_id": owners["person_id"],
        }
    )


def plates(prefix: str, n: int, rng: np.random.Generator) -> list[str]:
    """`n` different plates of a province and city prefix (e.g. 浙C), five characters after it."""
    # A letter, a letter or digit, three digits: 816,000 numbers (a Wenzhou-size city's cars fit);
    # drawn without repeats.
    second = PLATE_LETTERS + "0123456789"
    numbers = rng.choice(len(PLATE_LETTERS) * len(second) * 1000, size=n, replace=False)
    return [
        f"{prefix}{PLATE_LETTERS[k // (len(second) * 1000)]}{second[k // 1000 % len(second)]}{k % 1000:03d}"
        for k in numbers.tolist()
    ]


__all__ = [
    "CAMERA_PREFIX",
    "COMMUNITY_TABLES",
    "GARAGE",
    "PANEL_PREFIX",
    "PERIMETER",
    "make_community",
    "plates",
]
