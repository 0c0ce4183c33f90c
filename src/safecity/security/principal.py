"""Who is asking: the signed-in account with its role, permissions and the areas it reaches.

Area scope is hierarchical: an account given a district reaches every station area and community
inside it; one given a station area reaches its communities. `AreaTree` expands the account's
areas once per request from a cached copy of the registry's area hierarchy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.context import Context
from safecity.core.errors import outside_area
from safecity.security.audit import Actor
from safecity.security.roles import FULL_IDENTIFIERS, AccountKind, Permission, Role


@dataclass(frozen=True, slots=True)
class AreaTree:
    """Parent links of every area, and each area's descendants."""

    parent: dict[str, str | None]
    children: dict[str, tuple[str, ...]]

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str | None]]) -> AreaTree:
        """Build from (area id, parent id) pairs."""
        parent = dict(pairs)
        kids: dict[str, list[str]] = {}
        for child, up in parent.items():
            if up is not None:
                kids.setdefault(up, []).append(child)
        return cls(parent, {k: tuple(v) for k, v in kids.items()})

    def expand(self, area_ids: Iterable[str]) -> frozenset[str]:
        """The areas and everything inside them."""
        out: set[str] = set()
        stack = list(area_ids)
        while stack:
            area = stack.pop()
            if area in out:
                continue
            out.add(area)
            stack.extend(self.children.get(area, ()))
        return frozenset(out)

    def within(self, area_id: str, container: str) -> bool:
        """Whether `area_id` is `container` or lies inside it."""
        seen = 0
        current: str | None = area_id
        while current is not None and seen < 64:
            if current == container:
                return True
            current = self.parent.get(current)
            seen += 1
        return False


class AreaCache:
    """The area hierarchy, reloaded when the registry says areas changed or after `ttl_s`."""

    depends_on = frozenset({"areas"})  # the RegistryChanged groups it holds

    def __init__(self, session_factory: sessionmaker[Session], *, ttl_s: float = 300.0) -> None:
        self._factory = session_factory
        self._ttl_s = ttl_s
        self._tree: AreaTree | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def tree(self) -> AreaTree:
        """The current hierarchy."""
        tree = self._tree
        if tree is not None and time.monotonic() - self._loaded_at < self._ttl_s:
            return tree
        with self._lock:
            if self._tree is None or time.monotonic() - self._loaded_at >= self._ttl_s:
                with self._factory() as session:
                    pairs = registry.area_parents(session)
                self._tree = AreaTree.from_pairs(pairs)
                self._loaded_at = time.monotonic()
            return self._tree

    def invalidate(self) -> None:
        """Reload on next use."""
        self._loaded_at = 0.0


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    account_id: int
    username: str
    display_name: str
    role: Role
    kind: AccountKind
    unit: str
    permissions: frozenset[Permission]
    city_wide: bool
    areas: frozenset[str]  # expanded: the account's areas and everything inside them
    person_id: int | None = None
    session_id: str | None = None
    client: str = ""
    home_areas: tuple[str, ...] = field(default=())
    # When the access token this principal came from stops being valid (None: not from a token).
    token_expires_at: datetime | None = None

    def can(self, permission: Permission) -> bool:
        """Whether the role holds the permission."""
        return permission in self.permissions

    def reaches(self, *area_ids: str | None) -> bool:
        """Whether any of these areas is within the account's scope."""
        return self.city_wide or any(a is not None and a in self.areas for a in area_ids)

    def require_area(self, *area_ids: str | None, what: str = "this") -> None:
        """Refuse unless one of the areas is within scope."""
        if not self.reaches(*area_ids):
            raise outside_area(area_ids, what=what, home_areas=self.home_areas)

    @property
    def sees_full_identifiers(self) -> bool:
        """Whether identity and phone numbers are shown unmasked to this role (under a case)."""
        return self.role in FULL_IDENTIFIERS

    @property
    def actor(self) -> Actor:
        """How this caller appears in the audit trail."""
        return Actor(self.username, self.role.value, self.unit, self.client)

    def context(self, *, request_id: str | None = None) -> Context:
        """This caller as the context of one request (its id, if given, is the request's)."""
        ctx = Context(
            actor=self.username,
            role=self.role.value,
            unit=self.unit,
            client=self.client,
            account_id=self.account_id,
            person_id=self.person_id,
            permissions=frozenset(p.value for p in self.permissions),
            city_wide=self.city_wide,
            areas=self.areas,
            home_areas=self.home_areas,
            full_identifiers=self.sees_full_identifiers,
        )
        return ctx if request_id is None else msgspec.structs.replace(ctx, id=request_id)
