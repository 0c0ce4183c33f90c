"""The rules capability: the rule kinds every deployment has (hotlist, tag tampering, silence)."""

from safecity.core.capabilities import Capability
from safecity.rules import hotlist, offline, tamper
from safecity.rules.settings import SECTION

CAPABILITY = Capability(
    name="rules",
    summary="Rules over the record stream: listed subjects seen, tags tampered with, devices silent.",
    extensions=(hotlist.KIND, tamper.KIND, offline.KIND, SECTION),
)
