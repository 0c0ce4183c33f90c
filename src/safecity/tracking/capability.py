"""The tracking capability: things that move (issue 11).

Elderly locators (wearers, guardians, consent, safe zones, missing-person reports) and hazardous
chemicals (products, sites, the stock ledger, shipments, zones). Extend it by adding to the lists
below: a new entity's use cases (`SERVICES`), the facts its rules read (`FACT_SOURCES`), its rule
kinds (`RULE_KINDS`) and who is told of its alerts (`FOLLOWERS`); how long what it records about
people is kept is in `retention.py`; hazardous chemicals keep theirs
in `hazmat_capability.EXTENSIONS`.
"""

from __future__ import annotations

from typing import Any

from safecity.core.capabilities import Capability, Service
from safecity.tracking.guardians import GUARDIANS
from safecity.tracking.hazmat_capability import EXTENSIONS as HAZMAT_EXTENSIONS
from safecity.tracking.missing import MissingPersons, build_missing
from safecity.tracking.retention import EXTENSIONS as RETENTION
from safecity.tracking.rules import KINDS as WEARER_RULE_KINDS
from safecity.tracking.wearer_facts import FACT_SOURCE as WEARER_FACTS
from safecity.tracking.wearer_track import WearerTracks, build_tracks
from safecity.tracking.wearers import Wearers, build_wearers

SERVICES: list[Any] = [
    Service(Wearers, build_wearers),
    Service(MissingPersons, build_missing),
    Service(WearerTracks, build_tracks),
]
FACT_SOURCES: list[Any] = [WEARER_FACTS]
RULE_KINDS: list[Any] = [*WEARER_RULE_KINDS]
FOLLOWERS: list[Any] = [GUARDIANS]

CAPABILITY = Capability(
    name="tracking",
    summary=(
        "Things that move: elderly people's locators (wearers, guardians, safe zones, missing-person"
        " reports) and hazardous-chemical shipments, stock and their warnings."
    ),
    requires=("registry", "alerts", "security"),
    extensions=(*SERVICES, *FACT_SOURCES, *RULE_KINDS, *FOLLOWERS, *RETENTION, *HAZMAT_EXTENSIONS),
)
