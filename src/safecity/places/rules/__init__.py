"""Housing warnings as rule kinds of the engine (rule kinds named `housing_*`), on the places facts.

Each reads door swipes enriched once per batch by the places fact source (places/facts.py) and
explains itself: the swipes as evidence, the registry facts used, typed refs to the door,
compound, building and flat. A watch-listed person's card is the `hotlist` rule over
`door_swipe` (rules/hotlist.py, configured in rules/default_rules.yaml), not a kind of its own.
"""

from safecity.places.rules.doors import DENIED_ATTEMPTS, UNKNOWN_CARD
from safecity.places.rules.dormant import DORMANT_TENANT
from safecity.places.rules.hours import UNUSUAL_HOURS
from safecity.places.rules.lag import WHITELIST_BEHIND
from safecity.places.rules.occupancy import GROUP_RENTING
from safecity.places.rules.roaming import MANY_COMPOUNDS

KINDS = (
    DENIED_ATTEMPTS,
    UNKNOWN_CARD,
    MANY_COMPOUNDS,
    GROUP_RENTING,
    DORMANT_TENANT,
    UNUSUAL_HOURS,
    WHITELIST_BEHIND,  # issue 10 item 8: a door whose list stays out of step
)

__all__ = ["KINDS"]
