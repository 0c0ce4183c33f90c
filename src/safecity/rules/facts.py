"""Registry facts for rules: a live cached view, and a pinned view for backtests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.capabilities import extensions
from safecity.core.finding import SubjectFacts


@dataclass(frozen=True, slots=True)
class FactSource:
    """An extension: facts a capability's rules read (which flat a door opens, its capacity, ...).

    `build(session_factory)` makes the source once per platform; rules reach it as
    `facts.source(name)`. A source that caches registry facts declares `depends_on` and
    `invalidate()` like the other caches, and is told of changes the same way.
    """

    name: str
    build: Callable[[sessionmaker[Session]], Any]


class LiveFacts:
    """The registry as rules see it now; the watchlist is cached briefly and dropped on change."""

    depends_on = frozenset({"watchlist"})  # the RegistryChanged groups it holds

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        devices: Callable[[], pl.DataFrame],
        *,
        ttl_s: float = 10.0,
        sources: Iterable[FactSource] | None = None,
    ) -> None:
        self._factory = session_factory
        self._devices = devices
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._watch: pl.DataFrame | None = None
        self._loaded_at = 0.0
        chosen = extensions(FactSource) if sources is None else sources
        self.sources: dict[str, Any] = {s.name: s.build(session_factory) for s in chosen}

    def source(self, name: str) -> Any:
        """The facts a capability contributed under `name` (KeyError names what is installed)."""
        try:
            return self.sources[name]
        except KeyError:
            raise KeyError(
                f"no fact source {name!r} (installed: {', '.join(sorted(self.sources)) or 'none'})"
            ) from None

    def invalidate(self) -> None:
        """Forget the cached watchlist (a bike was listed or recovered)."""
        with self._lock:
            self._watch = None

    def watchlist(self, now: datetime) -> pl.DataFrame:
        """Active entries; an entry that lapsed since loading is filtered by its interval."""
        with self._lock:
            if self._watch is None or time.monotonic() - self._loaded_at > self._ttl_s:
                with self._factory() as session:
                    self._watch = registry.active_watchlist(session, now=now)
                self._loaded_at = time.monotonic()
            return self._watch

    def entry_facts(self, entry_ids: list[int]) -> dict[int, SubjectFacts]:
        """Facts of listed entries, read fresh."""
        with self._factory() as session:
            return registry.entry_facts(session, entry_ids=entry_ids)

    def devices(self) -> pl.DataFrame:
        """Registered devices."""
        return self._devices()


class PeriodFacts(LiveFacts):
    """The registry pinned to a past period: entries in force at any time of it (backtests)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        devices: Callable[[], pl.DataFrame],
        *,
        start: datetime,
        end: datetime,
    ) -> None:
        super().__init__(session_factory, devices)
        with session_factory() as session:
            self._period = registry.watchlist_between(session, start=start, end=end)

    def watchlist(self, now: datetime) -> pl.DataFrame:
        """Every entry of the period; the hotlist rule checks each sighting against its interval."""
        return self._period
