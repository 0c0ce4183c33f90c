"""Who or what caused something: the `Context` every use case and every event carries.

Modelled on Home Assistant's `Context`: each request, command, device upload or background step
gets an id; what it causes carries a child context whose `parent_id` points back, so that any
alert, notice or audit record can be traced to the person, device or rule that set it going.
A context also says what its actor may do and where (permissions and area reach, expanded), and,
for the most intrusive questions, under which case and for what purpose, so that a service
function needs nothing else to decide and to record.
"""

from __future__ import annotations

import msgspec

from safecity.core.errors import outside_area
from safecity.core.record import new_id

ALL = "*"  # the permission a system or operator context holds: every one


class Context(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The cause of an action or event, and the reach of whoever acted."""

    actor: str  # username, device id, "system" or the operator's login
    role: str
    unit: str = ""
    client: str = ""  # address or user agent of the caller, where one applies
    id: str = msgspec.field(default_factory=new_id)
    parent_id: str | None = None
    account_id: int | None = None
    person_id: int | None = None  # the registry person of a citizen account
    permissions: frozenset[str] = frozenset()
    city_wide: bool = False
    areas: frozenset[str] = frozenset()  # expanded: the home areas and everything inside them
    home_areas: tuple[str, ...] = ()
    full_identifiers: bool = False  # may see identity and phone numbers unmasked (under a case)
    case_id: str | None = None
    purpose: str | None = None

    def can(self, permission: str) -> bool:
        """Whether the actor holds the permission."""
        return ALL in self.permissions or permission in self.permissions

    def reaches(self, *area_ids: str | None) -> bool:
        """Whether any of these areas is within the actor's reach."""
        return self.city_wide or any(a is not None and a in self.areas for a in area_ids)

    def require_area(self, *area_ids: str | None, what: str = "this") -> None:
        """Refuse (AccessDenied) unless one of the areas is within the actor's reach."""
        if not self.reaches(*area_ids):
            raise outside_area(area_ids, what=what, home_areas=self.home_areas)

    def child(self) -> Context:
        """The context of something this one causes: same actor and reach, a new id."""
        return msgspec.structs.replace(self, id=new_id(), parent_id=self.id)

    def under(self, case_id: str | None, purpose: str | None) -> Context:
        """The same context working under a case, for a stated purpose."""
        return msgspec.structs.replace(self, case_id=case_id, purpose=purpose)


SYSTEM = Context(actor="system", role="system", unit="safecity", permissions=frozenset({ALL}), city_wide=True)


def system_context(*, parent: Context | None = None) -> Context:
    """A fresh context for something the platform does by itself (a rule, a timer, a worker)."""
    return parent.child() if parent is not None else msgspec.structs.replace(SYSTEM, id=new_id())


def device_context(device_id: str, *, role: str = "device", client: str = "") -> Context:
    """A fresh context for what one field device sent; devices reach nothing and may do nothing."""
    return Context(actor=device_id, role=role, unit="", client=client)


def operator_context(login: str | None) -> Context:
    """A fresh context for a command-line operator (their OS login): the machine's administrator.

    Whoever can run the command line on the server holds its keys and database anyway; the
    context says so honestly (every permission, city-wide) and names them in the audit trail.
    Without a login name (a container user without a passwd entry) the platform acts itself.
    """
    if not login:
        return system_context()
    return Context(
        actor=f"os:{login}",
        role="system",
        unit="command line",
        client="cli",
        permissions=frozenset({ALL}),
        city_wide=True,
    )
