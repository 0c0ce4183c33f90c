"""What every dispatch use-case object is built with: the registry's sessions, the audit recorder,
the road network (loaded on first use) and the platform's clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import Recorder
from safecity.dispatch.network import RoadNetwork

S = TypeVar("S", bound="DispatchService")


class DispatchService:
    """Base of Units, Incidents and Orders."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        network: Callable[[], RoadNetwork],
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._network = network
        self._now = now

    @classmethod
    def build(cls: type[S], platform: Any) -> S:
        """Built with the platform's parts (a `core.capabilities.Service` builder)."""
        from safecity.dispatch.networks import RoadNetworks

        return cls(
            platform.session_factory,
            platform.security,
            platform.service(RoadNetworks),
            now=platform.clock.now,
        )


__all__ = ["DispatchService"]
