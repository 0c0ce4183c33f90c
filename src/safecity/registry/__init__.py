"""Registries: areas, people, e-bikes, devices and watchlists; the facts rules rely on."""

from safecity.registry import service
from safecity.registry.errors import Conflict, InvalidInput, NotFound, RegistryError
from safecity.registry.models import (
    Area,
    AreaKind,
    BikeStatus,
    Device,
    DeviceKind,
    DeviceStatus,
    EBike,
    Person,
    WatchlistEntry,
    WatchlistKind,
    WatchStatus,
)

__all__ = [
    "Area",
    "AreaKind",
    "BikeStatus",
    "Conflict",
    "Device",
    "DeviceKind",
    "DeviceStatus",
    "EBike",
    "InvalidInput",
    "NotFound",
    "Person",
    "RegistryError",
    "WatchStatus",
    "WatchlistEntry",
    "WatchlistKind",
    "service",
]
