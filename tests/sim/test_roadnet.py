"""The generated city's road network: one piece, one-way streets, banned left turns, same seed same map."""

from __future__ import annotations

import numpy as np

from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.roads import Band, RoadClass
from safecity.sim.grid import Grid
from safecity.sim.roadnet import city_roads


def test_the_city_lattice_is_one_routable_piece_with_one_way_streets_and_no_left_turns() -> None:
    grid = Grid.centred(128, 96)  # 8 x 6 super-blocks
    data = city_roads(grid, seed=3)
    assert data.nodes == (128 // 4 + 1) * (96 // 4 + 1)
    net = RoadNetwork(data)
    report = net.report
    assert report.restrictions_applied == len(data.restrictions) > 0
    assert report.cut_off_segments <= 4  # at most a corner a one-way pair closes
    one_way = int((net._twin < 0).sum())
    assert one_way > 0
    assert set(np.unique(data.seg_class)) == {RoadClass.PRIMARY, RoadClass.RESIDENTIAL}
    # From the middle, everywhere routable is reached, the far corner in minutes.
    middle = net.snap(*[float(v) for v in (grid.lat(48), grid.lon(64))])
    reach = net.times_to(middle, Band.NIGHT)
    segments = np.flatnonzero(net._routable)
    etas = net.etas(middle, reach, segments, np.full(len(segments), 0.5), Band.NIGHT)
    assert np.isfinite(etas).all()
    assert 60 < etas.max() < 15 * 60


def test_the_same_grid_and_seed_give_the_same_network() -> None:
    grid = Grid.centred(64, 64)
    a, b, c = city_roads(grid, seed=1), city_roads(grid, seed=1), city_roads(grid, seed=2)
    assert np.array_equal(a.seg_from, b.seg_from) and a.restrictions == b.restrictions
    assert not (np.array_equal(a.seg_from, c.seg_from) and a.restrictions == c.restrictions)
