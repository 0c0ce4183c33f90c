"""The hazardous-chemicals part of the tracking capability: its use cases, fact source and rule kinds.

`EXTENSIONS` is what `tracking/capability.py` lists in `CAPABILITY.extensions` (one capability per
package is discovered: `core.capabilities.installed()` imports `<package>.capability`).
"""

from __future__ import annotations

from typing import Any

from safecity.core.capabilities import Service
from safecity.rules.facts import FactSource
from safecity.tracking.hazmat_facts import NAME, HazmatFacts
from safecity.tracking.hazmat_registry import HazmatRegistry
from safecity.tracking.hazmat_rules import KINDS
from safecity.tracking.shipment_track import ShipmentTracks, build_shipment_tracks
from safecity.tracking.shipments import Shipments
from safecity.tracking.stock import Stock


def _registry(platform: Any) -> HazmatRegistry:
    return HazmatRegistry(platform.session_factory, platform.security, now=platform.clock.now)


def _stock(platform: Any) -> Stock:
    return Stock(platform.session_factory, platform.security, now=platform.clock.now)


def _shipments(platform: Any) -> Shipments:
    return Shipments(platform.session_factory, platform.security, platform.alerts, now=platform.clock.now)


EXTENSIONS: tuple[Any, ...] = (
    Service(HazmatRegistry, _registry),
    Service(Stock, _stock),
    Service(Shipments, _shipments),
    Service(ShipmentTracks, build_shipment_tracks),
    FactSource(NAME, HazmatFacts),
    *KINDS,
)

__all__ = ["EXTENSIONS"]
