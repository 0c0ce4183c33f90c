"""The platform's road network, loaded once on first use and kept.

Where it comes from (`DispatchSettings.dispatch_road_network`): an OpenStreetMap file, or a road
file the city generator wrote; unset, the generated city's `roads.npz`. Loading the demo city
takes well under a second, a 100,000-junction city a few seconds, so it happens on the first
question rather than at start-up, and a missing file is a clear refusal (503) naming the file,
not a failed start.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from safecity.dispatch.errors import NoRoadNetwork
from safecity.dispatch.network import NetworkReport, RoadNetwork
from safecity.dispatch.osm import OsmError, load_osm
from safecity.dispatch.roads import RoadData

log = structlog.get_logger(__name__)


class RoadNetworks:
    """Callable: the road network (loading it the first time)."""

    def __init__(self, path: Path | None, *, default: Path, max_snap_m: float) -> None:
        self._path = path
        self._default = default
        self._max_snap_m = max_snap_m
        self._network: RoadNetwork | None = None
        self._lock = threading.Lock()

    @property
    def source(self) -> Path:
        """The file the network is read from."""
        return self._path or self._default

    def __call__(self) -> RoadNetwork:
        if self._network is None:
            with self._lock:
                if self._network is None:
                    self._network = RoadNetwork(self._read(), max_snap_m=self._max_snap_m)
        return self._network

    def report(self) -> NetworkReport:
        """What was loaded and what of it can be routed."""
        return self().report

    def _read(self) -> RoadData:
        path = self.source
        if not path.is_file():
            hint = (
                "set SAFECITY_DISPATCH_ROAD_NETWORK to an OpenStreetMap file"
                if self._path is None
                else "check SAFECITY_DISPATCH_ROAD_NETWORK"
            )
            raise NoRoadNetwork(f"no road network: {path} does not exist ({hint})")
        try:
            if path.suffix == ".npz":
                return RoadData.load(path)
            return load_osm(path)
        except (OsmError, ValueError) as exc:
            raise NoRoadNetwork(f"no road network: {exc}") from exc


__all__ = ["RoadNetworks"]
