"""API request and response models of sign-in, accounts, cases, audit and person queries."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from safecity.core.clock import UtcTime
from safecity.security.roles import Role


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginIn(_In):
    """Sign in with a password, and the one-time code where the account has one."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(None, max_length=8, description="Six-digit code from the authenticator app.")


class RefreshIn(_In):
    """Rotate a refresh token (the console sends it as a cookie instead)."""

    refresh_token: str | None = Field(None, max_length=200)


class MeOut(BaseModel):
    """The signed-in account as it sees itself."""

    username: str
    display_name: str
    role: str
    kind: str
    unit: str
    areas: list[str]
    city_wide: bool
    permissions: list[str]


class TokenOut(BaseModel):
    """Tokens after a sign-in or refresh."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_in: int
    user: MeOut


class UserIn(_In):
    """An administrator creates an account."""

    username: str = Field(min_length=3, max_length=64)
    display_name: str = Field(min_length=1, max_length=128)
    role: Role
    unit: str = Field(
        min_length=1, max_length=128, description="Station, company or office shown to data subjects."
    )
    password: str = Field(min_length=12, max_length=256)
    areas: list[str] = Field(default_factory=list, max_length=200)
    city_wide: bool | None = None
    person_id: int | None = Field(None, ge=1, le=2**31 - 1)
    totp: bool | None = Field(
        None,
        description="Sign in with a one-time code (always for investigator, commander, administrator); "
        "the user sets it up at the first sign-in.",
    )


class UserOut(BaseModel):
    """An account as an administrator sees it (never its secrets)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    kind: str
    role: str
    unit: str
    areas: list[str]
    city_wide: bool
    person_id: int | None
    disabled: bool
    failed_logins: int = Field(description="Failed sign-ins from every address since the last success.")
    locked_until: datetime | None = Field(
        description="Until when addresses the account has never signed in from must wait (its slow "
        "path); the lockouts of single addresses are not listed."
    )
    has_totp: bool = Field(description="A one-time code is set up.")
    totp_enrolment_due: bool = Field(description="The user sets up a one-time code at the next sign-in.")
    created_at: datetime
    last_login_at: datetime | None


class UserCreatedOut(BaseModel):
    """A new account. Its one-time code, if it uses one, is set up by its user at the first sign-in:
    nobody else ever sees the secret."""

    user: UserOut


class EnrolmentOut(BaseModel):
    """The answer (202) to a password sign-in of an account that must first set up its one-time code.

    Add the key to an authenticator app (scan `totp_uri` as a QR code, or type `totp_secret`),
    then send a code from it with the token to `POST /api/v1/auth/enrol`: that completes the
    sign-in. Shown to this user alone; the token is good for that call only, for `expires_in` s.
    """

    enrolment_required: bool = True
    enrolment_token: str = Field(description="Single use: send it to POST /api/v1/auth/enrol.")
    expires_in: int = Field(description="Seconds left to complete the set-up.")
    username: str
    totp_secret: str = Field(description="The new key, base32, for an authenticator app.")
    totp_uri: str = Field(description="The same key as an otpauth:// URI (what a QR code carries).")


class EnrolIn(_In):
    """Complete a one-time-code set-up: the enrolment token and a code from the app."""

    enrolment_token: str = Field(min_length=1, max_length=200)
    totp: str = Field(min_length=1, max_length=8, description="Six-digit code from the authenticator app.")


class PasswordIn(_In):
    """A new password."""

    password: str = Field(min_length=12, max_length=256)


class CaseIn(_In):
    """Open a case."""

    title: str = Field(min_length=3, max_length=200)
    basis: str = Field(min_length=3, max_length=2000, description="Complaint or order number, statement.")
    area_id: str = Field(min_length=1, max_length=32, description="The area the case may ask about.")
    window_start: UtcTime
    window_end: UtcTime
    members: list[str] = Field(default_factory=list, max_length=50)


class MemberIn(_In):
    """Assign someone to a case."""

    username: str = Field(min_length=1, max_length=64)


class CloseCaseIn(_In):
    """Close a case."""

    note: str = Field("", max_length=2000)


class HoldIn(_In):
    """Keep lake data past retention for this case."""

    kinds: list[str] = Field(min_length=1, max_length=20)
    from_date: date
    to_date: date


class CaseOut(BaseModel):
    """A case."""

    id: str
    title: str
    basis: str
    area_id: str
    window_start: datetime
    window_end: datetime
    status: str
    opened_by: str
    opened_at: datetime
    closed_at: datetime | None
    members: list[str]
    holds: list[dict[str, str]]


class AuditOut(BaseModel):
    """One audit record as an auditor sees it."""

    seq: int
    at: datetime
    actor: str
    role: str
    unit: str
    action: str
    resource: str
    outcome: str
    status: int
    case_id: str | None
    purpose: str | None
    subjects: list[str]
    result_count: int | None
    detail: dict[str, object]
    client: str
    hash: str


class AccessOut(BaseModel):
    """What a data subject may know of an access to their data: when, which unit, what kind."""

    at: datetime
    unit: str
    what: str


class PathPointOut(BaseModel):
    """One sighting on a subject's path."""

    ts: datetime
    kind: str
    device: str
    lat: float | None
    lon: float | None
    area: str | None


class StayOut(BaseModel):
    """Where the subject stayed: sightings within 200 m of the first, none an hour after the one
    before, over 10 minutes or more."""

    start: datetime
    end: datetime
    minutes: float
    lat: float
    lon: float
    device: str | None
    sightings: int


class PathOut(BaseModel):
    """Where a subject was seen within a case's bounds."""

    subject_kind: str
    subject: str
    case_id: str
    start: datetime
    end: datetime
    area_id: str
    count: int
    points: list[PathPointOut]
    stays: list[StayOut] = Field(default_factory=list, description="where it stayed; moves lie between")


class LinkIn(_In):
    """A citizen names the identity number of the person their account speaks for."""

    id_number: str = Field(min_length=18, max_length=18, description="GB 11643 identity number.")


class LinkCodeIn(_In):
    """The code the person received by SMS."""

    code: str = Field(pattern=r"^\s*\d{6}\s*$", description="The six-digit code from the text message.")


class LinkRequestedOut(BaseModel):
    """What the holder of an account is told after naming a number (the same for every number)."""

    message: str


class LinkedOut(BaseModel):
    """The account is now linked to its person."""

    person_id: int


class ClaimOut(BaseModel):
    """An open claim about a person, as the verification desk shows it."""

    id: int = Field(description="The claim's id (used to confirm it).")
    purpose: str = Field(
        description="`bike_owner`: a bike was registered to this person by someone else; "
        "`account_person`: an account asks to speak for this person."
    )
    subject: str = Field(description="The bike's id or the account's id the claim is about.")
    person_name: str = Field(description="The person's name as registered: compare it with the card.")
    id_number: str = Field(description="The person's identity number, masked: the card shows it in full.")
    requested_by: str = Field(description="Who made the claim.")
    requested_unit: str = Field(description="Their unit (empty for a citizen's own request).")
    requested_at: datetime = Field(description="When.")
    expires_at: datetime = Field(description="When the claim lapses unless confirmed.")


class ConfirmInPersonIn(_In):
    """The officer states that they saw the person and their identity card."""

    identity_card_seen: bool = Field(
        description="Must be true: the person is here, and their identity card matches the claim."
    )
