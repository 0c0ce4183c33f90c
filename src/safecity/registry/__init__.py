"""Registries: areas, people, e-bikes, devices and watchlists; the facts rules rely on.

One module per entity (`people`, `bikes`, `watchlists`, `devices`, `areas`); this module is the
package's public API, and other packages import from here, never from the modules. The tables
(`registry.models`) are the registry's own: other packages name them only in type annotations
and reach the rows through the functions here (an import-linter contract holds them to it).
"""

from safecity.registry import bulk, messages, verification
from safecity.registry.actions import NewSecret, Registry, Stolen, Wanted
from safecity.registry.areas import area_parents, first_area, get_area, station_of_area, stations_of_areas
from safecity.registry.bikes import (
    BikeRegistration,
    bikes_of,
    find_bikes,
    first_owner,
    get_bike_by_tag,
    register_bike,
    require_bike,
)
from safecity.registry.claims import attach_owner
from safecity.registry.devices import (
    DEVICE_SCHEMA,
    broker_accounts,
    broker_hash,
    create_device,
    device_directory,
    get_device,
    hash_secret,
    is_secret_valid,
    revoke_device,
    rotate_device_secret,
)
from safecity.registry.errors import Conflict, InvalidInput, NotFound, RegistryError
from safecity.registry.events import RegistryChanged
from safecity.registry.models import (
    EBIKE,
    PERSON,
    AreaKind,
    BikeStatus,
    DeviceKind,
    DeviceStatus,
    WatchlistKind,
    WatchStatus,
)
from safecity.registry.people import (
    PersonNumbers,
    Pseudonymize,
    count_people_not_under,
    get_or_create_person,
    get_person,
    get_person_by_id_number,
    get_person_by_pseudonym,
    id_pseudonym_frame,
    people_by_ids,
    people_numbers,
    set_pseudonyms,
    store_pseudonyms,
)
from safecity.registry.watchlists import (
    DEFAULT_WATCH_DAYS,
    MAX_WATCH_DAYS,
    active_watchlist,
    close_entry,
    entry_facts,
    get_active_entry,
    list_person,
    report_stolen,
    require_entry,
    watchlist_between,
)

__all__ = [
    "DEFAULT_WATCH_DAYS",
    "DEVICE_SCHEMA",
    "MAX_WATCH_DAYS",
    "EBIKE",
    "PERSON",
    "AreaKind",
    "BikeRegistration",
    "BikeStatus",
    "Conflict",
    "DeviceKind",
    "DeviceStatus",
    "InvalidInput",
    "NewSecret",
    "NotFound",
    "PersonNumbers",
    "Pseudonymize",
    "Registry",
    "RegistryChanged",
    "RegistryError",
    "Stolen",
    "Wanted",
    "WatchStatus",
    "WatchlistKind",
    "active_watchlist",
    "bulk",
    "area_parents",
    "attach_owner",
    "bikes_of",
    "broker_accounts",
    "broker_hash",
    "close_entry",
    "count_people_not_under",
    "create_device",
    "device_directory",
    "get_device",
    "entry_facts",
    "find_bikes",
    "first_area",
    "first_owner",
    "get_active_entry",
    "list_person",
    "get_area",
    "get_bike_by_tag",
    "get_or_create_person",
    "get_person",
    "get_person_by_id_number",
    "get_person_by_pseudonym",
    "id_pseudonym_frame",
    "hash_secret",
    "is_secret_valid",
    "messages",
    "people_by_ids",
    "people_numbers",
    "register_bike",
    "report_stolen",
    "require_bike",
    "require_entry",
    "revoke_device",
    "rotate_device_secret",
    "set_pseudonyms",
    "station_of_area",
    "stations_of_areas",
    "store_pseudonyms",
    "verification",
    "watchlist_between",
]
