"""The registry capability: people, e-bikes, watchlists, devices and areas, and what follows from them."""

from safecity.core.capabilities import Capability
from safecity.registry.owners import BIKE_OWNERS

CAPABILITY = Capability(
    name="registry",
    summary="Who and what the platform knows: people, e-bikes and their owners, watchlists, devices, areas.",
    extensions=(BIKE_OWNERS,),
)
