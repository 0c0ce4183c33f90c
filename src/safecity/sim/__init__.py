"""The synthetic city: a seeded generator, a bulk loader into the registry, and device simulators
with planted incidents and their ground truth. It drives the demo, the tests and the benchmarks."""

from safecity.sim.city import City, CityMismatch, ensure_city, generate_city
from safecity.sim.incident import ReportStolen, SilenceTruth, StationPass, TamperTruth, TheftTruth, Truth
from safecity.sim.loader import CityAlreadyLoaded, LoadReport, load_city
from safecity.sim.scale import SCALES, CityScale
from safecity.sim.simulation import SimBatch, Simulation

__all__ = [
    "SCALES",
    "City",
    "CityAlreadyLoaded",
    "CityMismatch",
    "CityScale",
    "LoadReport",
    "ReportStolen",
    "SilenceTruth",
    "SimBatch",
    "Simulation",
    "StationPass",
    "TamperTruth",
    "TheftTruth",
    "Truth",
    "ensure_city",
    "generate_city",
    "load_city",
]
