"""The security service the platform holds: sign-in, token checks, principals and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import Clock
from safecity.core.context import Context
from safecity.security import accounts, enrolment, signin
from safecity.security.audit import (
    Actor,
    AuditEntry,
    AuditTrail,
    Outcome,
    accessed_subjects,
    actor_of,
    from_us,
    subject,
)
from safecity.security.errors import AccessDenied, NotAuthenticated
from safecity.security.models import Account, AuthSession
from safecity.security.principal import AreaCache, Principal
from safecity.security.roles import AccountKind, Role, permissions_of
from safecity.security.tokens import TokenService


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The outcome of a sign-in or refresh."""

    access_token: str
    refresh_token: str
    expires_in: int
    principal: Principal


_SESSION_OF_TOKEN = (
    select(
        AuthSession.account_id,
        AuthSession.revoked_at,
        AuthSession.expires_at,
        Account.username,
        Account.display_name,
        Account.role,
        Account.kind,
        Account.unit,
        Account.areas,
        Account.city_wide,
        Account.person_id,
        Account.disabled,
    )
    .join(Account, Account.id == AuthSession.account_id)
    .where(AuthSession.id == bindparam("sid"))
)


@dataclass(frozen=True, slots=True)
class Access:
    """One audited action on a citizen's data, as the citizen may learn of it (no case details)."""

    at: datetime
    actor: str
    unit: str
    action: str


class Security:
    """Authentication, principals and auditing for one platform."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        token_key: bytes,
        access_ttl_s: int = 900,
        refresh_ttl_s: int = 12 * 3600,
        policy: signin.LoginPolicy | None = None,
        enrolment_ttl_s: int = 600,
        seal_journal: Path | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.tokens = TokenService(token_key, ttl_s=access_ttl_s)
        self.refresh_ttl_s = refresh_ttl_s
        self.policy = policy or signin.LoginPolicy()
        self.enrolment_ttl_s = enrolment_ttl_s
        self.engine: Engine = session_factory.kw["bind"]
        self.areas = AreaCache(session_factory)
        self.audit = AuditTrail(session_factory, journal=seal_journal)

    def now(self) -> datetime:
        """The platform clock's time."""
        return self.clock.now()

    def principal_of(self, account: Account, *, session_id: str | None, client: str = "") -> Principal:
        """The principal for an account (areas expanded)."""
        return self._principal(
            account.id,
            account.username,
            account.display_name,
            account.role,
            account.kind,
            account.unit,
            account.areas,
            account.city_wide,
            account.person_id,
            session_id=session_id,
            client=client,
        )

    def _principal(
        self,
        account_id: int,
        username: str,
        display_name: str,
        role_name: str,
        kind: str,
        unit: str,
        areas: list[str] | None,
        city_wide: bool,
        person_id: int | None,
        *,
        session_id: str | None,
        client: str,
        token_expires_at: datetime | None = None,
    ) -> Principal:
        role = Role(role_name)
        home = tuple(areas or ())
        return Principal(
            account_id=account_id,
            username=username,
            display_name=display_name,
            role=role,
            kind=AccountKind(kind),
            unit=unit,
            permissions=permissions_of(role),
            city_wide=city_wide,
            areas=self.areas.tree().expand(home),
            person_id=person_id,
            session_id=session_id,
            client=client,
            home_areas=home,
            token_expires_at=token_expires_at,
        )

    def context_of_account(self, account_id: int) -> Context | None:
        """What an account may do and reach now, as a context (None: no such account, or disabled).

        For work done on an account's behalf without a request, such as its webhooks' deliveries.
        """
        with self.session_factory() as session:
            account = session.get(Account, account_id)
            if account is None or account.disabled:
                return None
            return self.principal_of(account, session_id=None).context()

    def authenticate_token(self, token: str, *, client: str = "") -> Principal:
        """The principal of a bearer access token; NotAuthenticated if expired, forged or revoked.

        The session row is read on every request (one indexed Core query, no ORM objects), so a
        revocation anywhere takes effect on the next request everywhere.
        """
        now = self.now()
        claims = self.tokens.decode(token, now=now)
        row = self._live_session(claims.session_id, claims.account_id, now)
        return self._principal(
            row.account_id,
            row.username,
            row.display_name,
            row.role,
            row.kind,
            row.unit,
            row.areas,
            row.city_wide,
            row.person_id,
            session_id=claims.session_id,
            client=client,
            token_expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
        )

    def still_signed_in(self, principal: Principal) -> None:
        """Raise NotAuthenticated if the principal's token has expired or its session has ended
        (signed out, expired, account disabled) since it was authenticated: for long-lived
        requests such as the alert stream, which authenticate once."""
        now = self.now()
        if principal.token_expires_at is not None and principal.token_expires_at <= now:
            raise NotAuthenticated("token_expired", "the access token has expired; refresh it")
        if principal.session_id is not None:
            self._live_session(principal.session_id, principal.account_id, now)

    def _live_session(self, session_id: str, account_id: int, now: datetime) -> Any:  # a Core Row
        """The session's row joined with its account, if the session is still good."""
        with self.engine.connect() as conn:
            row = conn.execute(_SESSION_OF_TOKEN, {"sid": session_id}).first()
        if row is None or row.account_id != account_id:
            raise NotAuthenticated("token_invalid", "the access token names no known sign-in session")
        if row.revoked_at is not None:
            raise NotAuthenticated("token_revoked", "this sign-in session was ended; sign in again")
        if row.expires_at <= now:
            raise NotAuthenticated("session_expired", "this sign-in session has expired; sign in again")
        if row.disabled:
            raise NotAuthenticated("account_disabled", "this account is disabled")
        return row

    def login(
        self, *, username: str, password: str, totp: str | None, client: str
    ) -> SignedIn | enrolment.Enrolment:
        """Sign in; or, for an account still to set up its one-time code, start that enrolment.

        The attempt is audited whichever way it goes, a refusal with its true reason.
        """
        now = self.now()
        attempt = signin.Attempt(username, password, totp, client)
        started: enrolment.Enrolment | None = None
        try:
            with self.session_factory.begin() as session:
                try:
                    account = signin.authenticate(session, attempt, now=now, policy=self.policy)
                except AccessDenied:
                    session.commit()  # keep the failure count
                    raise
                if signin.needs_enrolment(account):
                    started = enrolment.start(session, account, now=now, ttl_s=self.enrolment_ttl_s)
                    actor = self.principal_of(account, session_id=None, client=client).actor
                else:
                    signed = self._open_session(session, account, client=client, now=now)
        except AccessDenied as exc:
            self._refused(attempt.username, attempt.client, "auth.login", exc, now=now)
            raise
        if started is not None:
            self.audit.record(actor, AuditEntry("auth.enrol_start", "POST /api/v1/auth/login"), at=now)
            return started
        self.audit.record(signed.principal.actor, AuditEntry("auth.login", "POST /api/v1/auth/login"), at=now)
        return signed

    def enrolment(self, token: str) -> enrolment.Enrolment:
        """The enrolment a token names, to show its key again; EnrolmentRefused if it is not live."""
        with self.session_factory() as session:
            return enrolment.current(session, token, now=self.now())

    def enrol(self, *, token: str, code: str, client: str) -> SignedIn:
        """Complete a one-time-code enrolment with a valid code and open the session; audited."""
        now = self.now()
        try:
            with self.session_factory.begin() as session:
                try:
                    account, step = enrolment.complete(session, token, code, now=now)
                except AccessDenied:
                    session.commit()  # keep the count of wrong codes
                    raise
                signin.record_success(session, account, client, now=now, step=step)
                signed = self._open_session(session, account, client=client, now=now)
        except enrolment.EnrolmentRefused as exc:
            self._refused(exc.username or "", client, "auth.enrol_fail", exc, now=now)
            raise
        actor = signed.principal.actor
        self.audit.record(actor, AuditEntry("auth.enrol_complete", "POST /api/v1/auth/enrol"), at=now)
        self.audit.record(actor, AuditEntry("auth.login", "POST /api/v1/auth/enrol"), at=now)
        return signed

    def _open_session(self, session: Session, account: Account, *, client: str, now: datetime) -> SignedIn:
        """A new sign-in session for the account, with its access and refresh tokens."""
        auth, refresh = accounts.start_session(
            session, account, now=now, ttl_s=self.refresh_ttl_s, client=client
        )
        principal = self.principal_of(account, session_id=auth.id, client=client)
        access = self.tokens.issue(
            account_id=principal.account_id, session_id=auth.id, role=principal.role, now=now
        )
        return SignedIn(access, refresh, self.tokens.ttl_s, principal)

    def _refused(self, username: str, client: str, action: str, exc: AccessDenied, *, now: datetime) -> None:
        """Audit a refused sign-in step with the reason the caller was not told (auditors may see it)."""
        reason = exc.reason.value if isinstance(exc, signin.SignInRefused) else exc.code
        resource = "POST /api/v1/auth/enrol" if action == "auth.enrol_fail" else "POST /api/v1/auth/login"
        self.audit.record(
            Actor(signin.normalised(username) or "anonymous", "unknown", "", client),
            AuditEntry(
                action, resource, Outcome.REFUSED, exc.status, detail={"code": exc.code, "reason": reason}
            ),
            at=now,
        )

    def refresh(self, refresh_token: str, *, client: str) -> SignedIn:
        """Rotate a refresh token and issue a new access token."""
        now = self.now()
        with self.session_factory.begin() as session:
            try:
                auth, refresh = accounts.refresh_session(session, refresh_token, now=now)
            except AccessDenied:
                session.commit()  # a reuse revokes the session: keep that
                raise
            principal = self.principal_of(auth.account, session_id=auth.id, client=client)
        access = self.tokens.issue(
            account_id=principal.account_id, session_id=auth.id, role=principal.role, now=now
        )
        return SignedIn(access, refresh, self.tokens.ttl_s, principal)

    def logout(self, principal: Principal) -> None:
        """End the caller's session: its access and refresh tokens stop working at once."""
        if principal.session_id is None:
            return
        now = self.now()
        with self.session_factory.begin() as session:
            accounts.revoke_session(session, principal.session_id, reason="signed out", now=now)
        self.audit.record(principal.actor, AuditEntry("auth.logout", "POST /api/v1/auth/logout"), at=now)

    def _issue(self, principal: Principal) -> str:
        assert principal.session_id is not None
        return self.tokens.issue(
            account_id=principal.account_id,
            session_id=principal.session_id,
            role=principal.role,
            now=self.now(),
        )

    def record(self, who: Actor | Context, entry: AuditEntry) -> int:
        """Append to the audit trail at the platform's time, naming the actor or context's actor."""
        return self.audit.record(actor_of(who), entry, at=self.now())

    def accessed(self, person_id: int, tags: list[str]) -> list[Access]:
        """Allowed actions that touched a person or their bikes' tags, newest first (a citizen's view)."""
        names = [subject("person", person_id), *(subject("tag", t) for t in tags)]
        with self.session_factory() as session:
            return [
                Access(from_us(r.at_us), r.actor, r.unit, r.action) for r in accessed_subjects(session, names)
            ]
