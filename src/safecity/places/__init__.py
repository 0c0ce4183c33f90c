"""Places whose doors the platform knows: rental housing, smart communities, shops and their doors.

Public API; other packages import from here, not from the modules.
"""

from safecity.places.doors import DoorRefused, Doors
from safecity.places.errors import PlaceConflict, PlaceNotFound, PlacesError
from safecity.places.events import AccessChanged
from safecity.places.housing import Places
from safecity.places.quiet import TenantSwipes
from safecity.places.vehicles import Vehicles
from safecity.places.visitors import Visitors
from safecity.places.visits import RaisedWarning, VisitFilter, Visits
from safecity.places.zones import Zones

__all__ = [
    "AccessChanged",
    "DoorRefused",
    "Doors",
    "PlaceConflict",
    "PlaceNotFound",
    "Places",
    "PlacesError",
    "RaisedWarning",
    "TenantSwipes",
    "Vehicles",
    "VisitFilter",
    "Visitors",
    "Visits",
    "Zones",
]
