"""The staff of a generated city's shops: one or two employees each, whose cards open the shop's door.

Staff are migrants like the tenants (sim.housing draws them, numbered after everyone else); the
community simulation (sim.communitylife) has them swipe in during business hours, the ordinary
swipes a shop's door sees besides its owner's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

STAFF_SCHEMA: dict[str, pl.DataType] = {"id": pl.Int64(), "shop_id": pl.Int64(), "person_id": pl.Int64()}
PEOPLE_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Int64(),
    "id_number": pl.String(),
    "name": pl.String(),
}


def shop_staff_of(
    shops: pl.DataFrame, rng: np.random.Generator, draw_people: Callable[[int], pl.DataFrame]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One or two staff per shop: the new people (from `draw_people(n)`, living in the shop's
    community) and the staff table."""
    per_shop = rng.integers(1, 3, shops.height)
    if not shops.height:
        return pl.DataFrame(schema=PEOPLE_SCHEMA), pl.DataFrame(schema=STAFF_SCHEMA)
    people = draw_people(int(per_shop.sum()))
    staff = pl.DataFrame(
        {
            "id": np.arange(1, people.height + 1, dtype=np.int64),
            "shop_id": np.repeat(shops["id"].to_numpy(), per_shop).astype(np.int64),
            "person_id": people["person_id"],
        },
        schema=STAFF_SCHEMA,
    )
    community = dict(zip(shops["id"].to_list(), shops["community_id"].to_list(), strict=True))
    home = staff["shop_id"].replace_strict(community, return_dtype=pl.String)
    return people.with_columns(home_area_id=home), staff


__all__ = ["shop_staff_of"]
