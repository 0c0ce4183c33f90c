"""Every route's declared access rule, and the one dependency that enforces it.

A route declares exactly one of: `need(Permission.X)` (signed in, role holds X), `public(reason)`
(no sign-in; rate limited) or `device_auth()` (field devices, authenticated by the route itself).
`declared_requirement(route)` finds the declaration; a test walks every route and fails if one
has none. Refusals raise `AccessDenied`, whose handler answers with the JSON error and records
the refusal in the audit trail.

Browsers carry the access token in an HttpOnly, SameSite=Strict cookie and must echo the
`sc_csrf` cookie in an `X-CSRF-Token` header on unsafe methods (double-submit); API clients send
`Authorization: Bearer <token>` and need no CSRF token, since no browser adds that header itself.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from safecity.security import (
    AccessDenied,
    Actor,
    AuditEntry,
    NotAuthenticated,
    Outcome,
    Permission,
    Principal,
    SignedIn,
)
from safecity.security.settings import SecuritySettings
from safecity.web.deps import client_of, platform_of
from safecity.web.ratelimit import limit_public

if TYPE_CHECKING:
    pass

ACCESS_COOKIE = "sc_access"
REFRESH_COOKIE = "sc_refresh"
CSRF_COOKIE = "sc_csrf"
ENROL_COOKIE = "sc_enrol"  # the console's one-time-code enrolment token, sent only to /login/enrol
ENROL_PATH = "/login/enrol"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_PURPOSE_CHARS = 500  # the longest purpose a route accepts (web/api: PurposeQuery)


class LoginRequired(NotAuthenticated):
    """A console page was asked for without a valid sign-in: the browser is sent to /login."""


class Requirement:
    """A route's access rule; as a dependency it returns the caller's Principal (None if public)."""

    def __init__(
        self,
        permission: Permission | None,
        *,
        public: str | None = None,
        device: bool = False,
        page: bool = False,
    ) -> None:
        if (permission is None) == (public is None and not device):
            raise ValueError("declare exactly one of a permission, public(reason) or device auth")
        self.permission = permission
        self.public_reason = public
        self.device = device
        self.page = page

    def __repr__(self) -> str:
        if self.permission is not None:
            return f"need({self.permission.value})"
        return "device_auth()" if self.device else f"public({self.public_reason!r})"

    def __call__(self, request: Request) -> Principal | None:
        if self.public_reason is not None:
            limit_public(request)
            return None
        if self.permission is None:
            return None
        request.state.audit_action = self.permission.value
        request.state.page = self.page  # a refused page is answered as a page, not as JSON
        principal = authenticate(request, page=self.page)
        request.state.principal = principal
        if not principal.can(self.permission):
            raise AccessDenied(
                "forbidden",
                f"your role ({principal.role.value}) does not allow {self.permission.value}",
            )
        return principal


def authenticate(request: Request, *, page: bool = False) -> Principal:
    """The signed-in caller, from a bearer token or the console's cookie (with its CSRF check)."""
    security = platform_of(request).security
    header = request.headers.get("authorization", "")
    error = LoginRequired if page else NotAuthenticated
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise error("not_authenticated", "the Authorization header must be 'Bearer <access token>'")
        return security.authenticate_token(token.strip(), client=client_of(request))
    cookie = request.cookies.get(ACCESS_COOKIE)
    if not cookie:
        raise error("not_authenticated", "sign in first: no access token was sent")
    try:
        principal = security.authenticate_token(cookie, client=client_of(request))
    except NotAuthenticated as exc:
        raise error(exc.code, exc.message) from None
    # Console pages that accept forms check the form's own CSRF field instead.
    if request.method not in SAFE_METHODS and not page:
        sent = request.headers.get(CSRF_HEADER, "")
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            raise AccessDenied(
                "csrf_failed", "missing or wrong X-CSRF-Token header for a cookie-signed request"
            )
    return principal


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int, **kw: Any
) -> None:
    """A SameSite=Strict cookie, Secure when the console is served over TLS."""
    secure = platform_of(request).settings.behind_tls
    response.set_cookie(name, value, max_age=max_age, secure=secure, samesite="strict", **kw)


def set_session_cookies(response: Response, request: Request, signed: SignedIn) -> None:
    """Put a sign-in's tokens in HttpOnly cookies, and a fresh CSRF token in a readable one."""
    ttl = platform_of(request).settings.section(SecuritySettings).refresh_token_ttl_s
    set_cookie(
        response, request, ACCESS_COOKIE, signed.access_token, max_age=signed.expires_in, httponly=True
    )
    set_cookie(
        response,
        request,
        REFRESH_COOKIE,
        signed.refresh_token,
        max_age=ttl,
        httponly=True,
        path="/api/v1/auth",
    )
    set_cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(24), max_age=ttl)


def need(permission: Permission) -> Any:
    """Declare that a route needs a signed-in caller whose role holds `permission`."""
    return Depends(Requirement(permission))


def page_need(permission: Permission) -> Any:
    """Like need(), for console pages: an anonymous browser is redirected to the sign-in page."""
    return Depends(Requirement(permission, page=True))


def public(reason: str) -> Any:
    """Declare a route open to anyone, with the reason it may be."""
    return Depends(Requirement(None, public=reason))


def device_auth() -> Any:
    """Declare a route for field devices, which authenticate with their own secrets."""
    return Depends(Requirement(None, device=True))


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """One route as served (prefixes applied): its path, methods, kind and declared requirement."""

    path: str
    methods: frozenset[str]
    api: bool  # an APIRoute (ours); otherwise a mount or a framework route such as /docs
    requirement: Requirement | None


def app_routes(app: FastAPI) -> list[RouteInfo]:
    """Every route the app serves, with included routers flattened."""
    infos: list[RouteInfo] = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        infos.append(
            RouteInfo(
                path=str(context.path or getattr(original, "path", "")),
                methods=frozenset(context.methods or ()),
                api=isinstance(original, APIRoute),
                requirement=declared_requirement(original),
            )
        )
    return infos


def declared_requirement(route: BaseRoute) -> Requirement | None:
    """The Requirement a route declares (searching its dependency tree), if any."""
    if not isinstance(route, APIRoute):
        return None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Requirement):
            return dep.call
        stack.extend(dep.dependencies)
    return None


def audited(request: Request, who: Principal, entry: AuditEntry) -> int:
    """Record an allowed action in the audit trail (before the answer leaves)."""
    return platform_of(request).security.record(who.actor, entry)


def resource_of(request: Request) -> str:
    """METHOD path?query, as the audit trail names what was asked."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.method} {request.url.path}{query}"[:300]


def note_case(request: Request, body: Any) -> None:
    """Name a JSON body's case and purpose for the audit record of a refusal (`audit_refusal`):
    a refused question still says under which case it was asked."""
    request.state.audit_case_id = getattr(body, "case_id", None)
    request.state.audit_purpose = getattr(body, "purpose", None)


def audit_refusal(request: Request, exc: AccessDenied) -> None:
    """Record a refused request: who (if known), what they asked, why it was refused.

    What the caller sent is cut to what a route would accept (a refusal comes before validation):
    the trail records the request, it does not store whatever an anonymous caller pastes into it.
    """
    # A question sent as a JSON body (the workbench's) names its case there: the route notes it.
    case_id = request.query_params.get("case_id") or getattr(request.state, "audit_case_id", None)
    purpose = request.query_params.get("purpose") or getattr(request.state, "audit_purpose", None) or None
    detail: dict[str, object] = {"code": exc.code, "reason": exc.message[:300]}
    if purpose is not None and len(purpose) > MAX_PURPOSE_CHARS:
        detail["purpose_chars"] = len(purpose)
        purpose = purpose[:MAX_PURPOSE_CHARS]
    platform_of(request).security.record(
        _requester(request),
        AuditEntry(
            action=getattr(request.state, "audit_action", "request"),
            resource=resource_of(request),
            outcome=Outcome.REFUSED,
            status=exc.status,
            case_id=case_id[:32] if case_id else None,
            purpose=purpose,
            detail=detail,
        ),
    )


def audit_refusal_flood(request: Request, limit: int) -> None:
    """Record, once a minute per address, that its further refusals get 429 and are only counted."""
    platform_of(request).security.record(
        _requester(request),
        AuditEntry(
            action=getattr(request.state, "audit_action", "request"),
            resource=resource_of(request),
            outcome=Outcome.REFUSED,
            status=429,
            detail={
                "code": "rate_limited",
                "reason": f"more than {limit} refused requests from this address this minute: the rest "
                "are answered 429 and not recorded one by one",
            },
        ),
    )


def _requester(request: Request) -> Actor:
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal.actor if principal else Actor("anonymous", "none", "", client_of(request))
