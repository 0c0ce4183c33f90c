"""What the road benchmarks (`dispatch`, `mclp`) share: the two networks they run on, and random
places on their roads."""

from __future__ import annotations

import numpy as np

from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.osm import helsinki_extract, load_osm
from safecity.dispatch.roads import RoadData
from safecity.sim.grid import Grid
from safecity.sim.roadnet import city_roads


def networks() -> list[tuple[str, RoadData]]:
    """The real Helsinki city-centre extract (decision 0013) and the generated city's lattice grown
    to ~100,000 junctions (316 x 316, 200 m apart; one-way streets and banned turns included)."""
    big = Grid.centred(1260, 1260)
    return [("helsinki", load_osm(helsinki_extract())), ("generated_100k", city_roads(big, seed=12))]


def places(
    net: RoadNetwork, rng: np.random.Generator, n: int, *, within_m: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Segments and fractions of n random routable places (uniform over the road length), only
    within `within_m` of the network's centre if given."""
    keep = net._routable.copy()
    if within_m is not None:
        d = net.data
        lat = (d.node_lat[d.seg_from] + d.node_lat[d.seg_to]) / 2
        lon = (d.node_lon[d.seg_from] + d.node_lon[d.seg_to]) / 2
        north = (lat - lat.mean()) * 111_195.0
        east = (lon - lon.mean()) * 111_195.0 * np.cos(np.radians(lat.mean()))
        keep &= np.hypot(north, east) <= within_m
    routable = np.flatnonzero(keep)
    weights = net.data.seg_length_m[routable]
    chosen = rng.choice(routable, size=n, p=weights / weights.sum())
    return chosen.astype(np.int64), rng.uniform(0.0, 1.0, n)
