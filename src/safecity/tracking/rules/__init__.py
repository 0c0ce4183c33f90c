"""Wearer warnings as rule kinds of the engine (`wearer_*`), on the wearers' facts (tracking/wearer_facts.py).

Each names the wearer, carries the records (fixes, alarms, heartbeats) as evidence routed to the
wearer's station, and is followed by the guardians' notices (tracking/guardians.py).
"""

from safecity.tracking.rules.alarms import FALL, SOS
from safecity.tracking.rules.battery import LOW_BATTERY
from safecity.tracking.rules.no_fix import NO_FIX
from safecity.tracking.rules.safe_zone import LEFT_SAFE_ZONE

KINDS = (SOS, LEFT_SAFE_ZONE, NO_FIX, LOW_BATTERY, FALL)

__all__ = ["KINDS"]
