"""Tracker terminals signing on and off: GT06 login, JT/T 808 registration, authentication and logout.

The registry binds terminal ids to tracker devices (`registry.register_terminal`); this module
asks it, off the event loop, and updates the connection's `Session`. Every refusal is counted
and logged with the terminal id only (a log line never carries a code or a frame).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from prometheus_client import Counter
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from safecity import registry
from safecity.ingest.adapters.tcp.protocol import Message, MessageType, Outcome, Session

log = structlog.get_logger(__name__)

LOGINS = Counter(
    "safecity_tracker_logins", "Tracker logins, registrations and authentications", ["protocol", "outcome"]
)


class TerminalLogins:
    """Checks terminals against the registry and issues JT/T 808 authentication codes."""

    def __init__(self, session_factory: sessionmaker[DbSession], protocol: str, now: Callable[[], datetime]):
        self._factory = session_factory
        self._protocol = protocol
        self._now = now

    async def handle(self, message: Message, session: Session) -> Outcome:
        """Answer a LOGIN, REGISTER or AUTHENTICATE: STORED when accepted, REFUSED otherwise."""
        terminal = message.terminal or session.terminal
        if not terminal:
            return self._refused("no_terminal_id", None)
        if message.type is MessageType.REGISTER:
            return await self._register(terminal, session)
        entry = await asyncio.to_thread(self._entry, terminal)
        if entry is None or not entry.active:
            return self._refused("unknown" if entry is None else "disabled", terminal)
        if message.type is MessageType.AUTHENTICATE:
            presented = str(message.fields.get("auth_code", ""))
            if not registry.is_auth_code_valid(presented, entry):
                session.auth_code = None  # the codec answers result 1 (failure)
                return self._refused("wrong_auth_code", terminal)
            # The code may have been issued on an earlier connection: the codec compares with this.
            session.auth_code = presented
        self._accept(session, entry, terminal)
        return Outcome.STORED

    async def logout(self, session: Session) -> None:
        """JT/T 808 0x0003 from an authenticated terminal: the connection is no longer
        authenticated and the code stops working; the terminal registers (0x0100) again."""
        terminal = session.terminal
        if terminal:
            await asyncio.to_thread(self._revoke, terminal)
        session.device_id = None
        session.auth_code = None
        LOGINS.labels(self._protocol, "logged_out").inc()
        log.info("tracker_logged_out", protocol=self._protocol, terminal=terminal)

    async def _register(self, terminal: str, session: Session) -> Outcome:
        """JT/T 808 0x0100: a known terminal gets a new code (set on the session for the 0x8100)."""
        code = await asyncio.to_thread(self._issue, terminal)
        if code is None:
            return self._refused("unknown", terminal)
        session.auth_code = code
        # Registered is not authenticated: the terminal must present the code (0x0102) first.
        LOGINS.labels(self._protocol, "registered").inc()
        log.info("tracker_registered", protocol=self._protocol, terminal=terminal)
        return Outcome.STORED

    def _accept(self, session: Session, entry: registry.TerminalEntry, terminal: str) -> None:
        session.device_id = entry.device_id
        session.terminal = terminal
        session.utc_offset_minutes = entry.utc_offset_minutes
        LOGINS.labels(self._protocol, "accepted").inc()
        log.info("tracker_logged_in", protocol=self._protocol, terminal=terminal, device=entry.device_id)

    def _refused(self, why: str, terminal: str | None) -> Outcome:
        LOGINS.labels(self._protocol, why).inc()
        log.warning("tracker_refused", protocol=self._protocol, terminal=terminal, reason=why)
        return Outcome.REFUSED

    def _entry(self, terminal: str) -> registry.TerminalEntry | None:
        with self._factory() as db:
            return registry.get_terminal(db, self._protocol, terminal)

    def _revoke(self, terminal: str) -> None:
        with self._factory() as db, db.begin():
            registry.revoke_auth_code(db, self._protocol, terminal)

    def _issue(self, terminal: str) -> str | None:
        with self._factory() as db, db.begin():
            entry = registry.get_terminal(db, self._protocol, terminal)
            if entry is None or not entry.active:
                return None
            return registry.issue_auth_code(db, self._protocol, terminal, now=self._now())


__all__ = ["LOGINS", "TerminalLogins"]
