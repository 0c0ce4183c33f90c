"""Registry facts for rules: a live cached view, and a pinned view for backtests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.finding import SubjectFacts


class LiveFacts:
    """The registry as rules see it now; the watchlist is cached briefly and dropped on change."""

    depends_on = frozenset({"watchlist"})  # the RegistryChanged groups it holds

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        devices: Callable[[], pl.DataFrame],
        *,
        ttl_s: float = 10.0,
    ) -> None:
        self._factory = session_factory
        self._devices = devices
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._watch: pl.DataFrame | None = None
        self._loaded_at = 0.0

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
