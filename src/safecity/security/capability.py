"""The security capability: accounts, sessions, cases; how long ended sessions and closed cases are kept."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select

from safecity.core.capabilities import Capability
from safecity.security.entities import CASE_ENTITIES
from safecity.security.models import (
    AuthSession,
    Case,
    CaseHold,
    CaseMember,
    SignInAttempt,
    TotpEnrolment,
)
from safecity.security.retention import cases_closed_before
from safecity.security.settings import SECTION
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry


def _ended_sessions(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("ended_auth_sessions")
    return [
        Purgeable(
            "auth_sessions",
            AuthSession,
            or_(AuthSession.revoked_at < before, AuthSession.expires_at < before),
        ),
        # Unfinished one-time-code set-ups; a finished one is deleted when it completes.
        Purgeable("totp_enrolments", TotpEnrolment, TotpEnrolment.expires_at < before),
    ]


def _stale_sign_in_attempts(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("sign_in_attempts")
    row = SignInAttempt
    quiet = and_(
        or_(row.last_failure_at.is_(None), row.last_failure_at < before),
        or_(row.locked_until.is_(None), row.locked_until < before),
        or_(row.last_success_at.is_(None), row.last_success_at < before),
    )
    return [Purgeable("sign_in_attempts", SignInAttempt, quiet)]


def _closed_cases(cut: Cutoff) -> Sequence[Purgeable]:
    expired = cases_closed_before(cut("closed_cases"))
    ids = select(Case.id).where(expired)
    return [
        Purgeable("case_holds", CaseHold, CaseHold.case_id.in_(ids)),
        Purgeable("case_members", CaseMember, CaseMember.case_id.in_(ids)),
        Purgeable("cases", Case, expired),
    ]


CAPABILITY = Capability(
    name="security",
    summary="Accounts, roles and areas, sign-in, cases and purposes, the audit trail, pseudonyms, retention.",
    requires=("registry",),
    extensions=(
        SECTION,
        CASE_ENTITIES,
        RetentionEntry(
            name="ended_auth_sessions",
            description="Sign-in sessions, counted from expiry or revocation, and unfinished "
            "one-time-code set-ups, counted from expiry.",
            tables=("auth_sessions", "totp_enrolments"),
            due=_ended_sessions,
        ),
        RetentionEntry(
            name="sign_in_attempts",
            description="Sign-in failures and lockouts per username and address, and the addresses "
            "accounts signed in from, counted from the last of these.",
            tables=("sign_in_attempts",),
            due=_stale_sign_in_attempts,
        ),
        RetentionEntry(
            name="closed_cases",
            description="Closed cases with their members and holds, counted from closing; until then the "
            "holds keep their lake data.",
            tables=("cases", "case_members", "case_holds"),
            due=_closed_cases,
        ),
    ),
)
