"""Administration as use cases: accounts and key rotation, each change stored and audited once.

The web API's `/users` routes and the `safecity users` and `keys` commands call these, so that
an account created or disabled from either edge is checked, stored and audited the same way;
the edges only parse their input and print or serialise the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.context import Context
from safecity.security import accounts, signin
from safecity.security.audit import AuditEntry, AuditTrail, actor_of, subject
from safecity.security.errors import AccountError
from safecity.security.linkage import Rotation, rotate_pseudonym_key
from safecity.security.models import Account
from safecity.security.schemas import UserOut
from safecity.security.service import Security
from safecity.store import transaction


class AccountChange(StrEnum):
    """What an administrator may do to an existing account (the audit action is `users.<value>`)."""

    DISABLE = "disable"
    ENABLE = "enable"
    UNLOCK = "unlock"
    PASSWORD = "password"  # noqa: S105 (the name of an action, not a secret)
    TOTP = "totp"


@dataclass(frozen=True, slots=True)
class AccountResult:
    """The account after the change (never a secret: users set up their one-time codes themselves)."""

    user: UserOut


def user_view(account: Account) -> UserOut:
    """An account as administrators see it: never its password hash or TOTP secret."""
    return UserOut.model_validate(
        {
            **{c: getattr(account, c) for c in UserOut.model_fields if hasattr(account, c)},
            "areas": list(account.areas or ()),
            "has_totp": account.totp_secret is not None,
            "totp_enrolment_due": signin.needs_enrolment(account),
        }
    )


def list_users(security: Security) -> list[UserOut]:
    """Every account, by username."""
    with security.session_factory() as session:
        return [user_view(a) for a in session.scalars(select(Account).order_by(Account.username))]


def create_user(
    security: Security, ctx: Context, new: accounts.NewAccount, *, resource: str, status: int = 200
) -> AccountResult:
    """Create an account (AccountError names the field at fault) and audit who created it.

    Nobody links an account to a registry person on the person's behalf: the account's holder
    does it with the code sent to the person's phone, or at a police station (security.linking).
    """
    if new.person_id is not None:
        raise AccountError(
            "an account is linked to a person only by that person: its holder asks in their own account "
            "(a code goes to the phone on record) or at a police station with their identity card",
            field="person_id",
        )
    with transaction(security.session_factory) as session:
        account = accounts.create_account(session, new, by=ctx.actor, now=security.now())
        user = user_view(account)
    security.record(
        ctx,
        AuditEntry(
            "users.create",
            resource,
            status=status,
            subjects=[subject("account", user.username)],
            detail={"role": user.role, "areas": user.areas, "city_wide": user.city_wide},
        ),
    )
    return AccountResult(user)


def change_user(
    security: Security,
    ctx: Context,
    username: str,
    change: AccountChange,
    *,
    resource: str,
    password: str | None = None,
) -> AccountResult:
    """Apply one change to an account (404 AccountError if there is none), audited."""
    now = security.now()
    with transaction(security.session_factory) as session:
        account = accounts.find_account(session, username)
        match change:
            case AccountChange.DISABLE | AccountChange.ENABLE:
                accounts.set_disabled(session, account, change is AccountChange.DISABLE, now=now)
            case AccountChange.UNLOCK:
                accounts.unlock(session, account)
            case AccountChange.PASSWORD:
                if password is None:
                    raise ValueError("a password change needs the new password")
                accounts.set_password(session, account, password, now=now)
            case AccountChange.TOTP:
                accounts.reset_totp(session, account)
        user = user_view(account)
    security.record(
        ctx, AuditEntry(f"users.{change.value}", resource, subjects=[subject("account", user.username)])
    )
    return AccountResult(user)


def rotate_pseudonym(
    session_factory: sessionmaker[Session],
    key_file: Path,
    ctx: Context,
    *,
    resume: bool,
    now: datetime,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Rotation:
    """Make a new pseudonym key version current (or, resuming, finish re-keying), audited.

    Runs without a platform: rotation happens while the platform's processes are stopped or
    about to be restarted, and must not load the key it is replacing into a running pipeline.
    """
    rotation = rotate_pseudonym_key(
        key_file, session_factory, new_key=not resume, on_start=on_start, progress=progress
    )
    detail = {"previous": rotation.previous, "current": rotation.current, "resume": resume}
    AuditTrail(session_factory).record(
        actor_of(ctx),
        AuditEntry(
            "keys.rotate_pseudonym",
            str(key_file),
            result_count=rotation.people,
            detail={**detail, "versions": rotation.versions},
        ),
        at=now,
    )
    return rotation


__all__ = [
    "AccountChange",
    "AccountResult",
    "change_user",
    "create_user",
    "list_users",
    "rotate_pseudonym",
    "user_view",
]
