"""Storage plumbing shared by the domains: the SQL base, engines, sessions and migrations."""

from safecity.store.announce import announce, deliver_after_commit
from safecity.store.db import Base, UtcDateTime, make_engine, make_session_factory, transaction
from safecity.store.migrate import upgrade_to_head

__all__ = [
    "Base",
    "UtcDateTime",
    "announce",
    "deliver_after_commit",
    "make_engine",
    "make_session_factory",
    "transaction",
    "upgrade_to_head",
]
