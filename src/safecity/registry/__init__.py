"""Registries: areas, people, e-bikes, devices and watchlists; the facts rules rely on.

One module per entity (`people`, `bikes`, `watchlists`, `devices`, `areas`); this module is the
package's public API, and other packages import from here, never from the modules.
"""

from safecity.registry.areas import get_area, station_of_area, stations_of_areas
from safecity.registry.bikes import BikeRegistration, get_bike_by_tag, register_bike, require_bike
from safecity.registry.devices import (
    DEVICE_SCHEMA,
    create_device,
    device_directory,
    hash_secret,
    is_secret_valid,
    revoke_device,
    rotate_device_secret,
)
from safecity.registry.errors import Conflict, InvalidInput, NotFound, RegistryError
from safecity.registry.events import RegistryChanged
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
from safecity.registry.people import (
    PersonNumbers,
    Pseudonymize,
    count_people_not_under,
    get_or_create_person,
    get_person_by_id_number,
    get_person_by_pseudonym,
    people_numbers,
    set_pseudonyms,
    store_pseudonyms,
)
from safecity.registry.watchlists import (
    DEFAULT_WATCH_DAYS,
    active_watchlist,
    close_entry,
    entry_facts,
    get_active_entry,
    report_stolen,
    require_entry,
    watchlist_between,
)

__all__ = [
    "DEFAULT_WATCH_DAYS",
    "DEVICE_SCHEMA",
    "Area",
    "AreaKind",
    "BikeRegistration",
    "BikeStatus",
    "Conflict",
    "Device",
    "DeviceKind",
    "DeviceStatus",
    "EBike",
    "InvalidInput",
    "NotFound",
    "Person",
    "PersonNumbers",
    "Pseudonymize",
    "RegistryError",
    "WatchStatus",
    "WatchlistEntry",
    "WatchlistKind",
    "active_watchlist",
    "close_entry",
    "count_people_not_under",
    "create_device",
    "device_directory",
    "entry_facts",
    "get_active_entry",
    "get_area",
    "get_bike_by_tag",
    "get_or_create_person",
    "get_person_by_id_number",
    "get_person_by_pseudonym",
    "hash_secret",
    "is_secret_valid",
    "people_numbers",
    "register_bike",
    "report_stolen",
    "require_bike",
    "require_entry",
    "revoke_device",
    "rotate_device_secret",
    "RegistryChanged",
    "set_pseudonyms",
    "station_of_area",
    "stations_of_areas",
    "store_pseudonyms",
    "watchlist_between",
]
