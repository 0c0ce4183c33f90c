"""One error shape for every API failure, and handlers that never leak a stack trace.

Body: {"error": {"code": "...", "message": "...", "field": "..." | null, "details": [...]}}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from safecity.core.errors import DomainError
from safecity.security import AccessDenied, NotAuthenticated
from safecity.web.ratelimit import RateLimited, Verdict, count_refusal

log = structlog.get_logger(__name__)


def error_body(
    code: str, message: str, *, field: str | None = None, details: list[Any] | None = None
) -> dict[str, Any]:
    """The JSON error envelope."""
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    if details:
        body["details"] = details
    return {"error": body}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSONResponse carrying the error envelope."""
    return JSONResponse(
        error_body(code, message, field=field, details=details), status_code=status, headers=headers
    )


_LOCATIONS = ("body", "query", "path", "header", "cookie")


def field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """The field a validation error is about, named as the client wrote it:
    ("body", "outcome") -> "outcome", ("query", "limit") -> "limit", ("body",) -> None."""
    where = list(loc)
    if where and where[0] in _LOCATIONS:
        where = where[1:]
    return ".".join(str(p) for p in where) or None


def install_error_handlers(app: FastAPI) -> None:
    """Map domain and framework errors to clear JSON answers."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        # Every capability's refusals (registry, alerts, accounts, ...) derive from DomainError.
        return error_response(exc.status, exc.code, exc.message, field=exc.field)

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        from safecity.web.auth import ACCESS_COOKIE, LoginRequired, audit_refusal, audit_refusal_flood

        # A browser's first visit to a page is sent to sign in: not a refusal worth counting.
        first_visit = isinstance(exc, LoginRequired) and not request.cookies.get(ACCESS_COOKIE)
        # Refusals are rate limited per address: a flood gets 429, and one audit record, not one each.
        verdict, limit = (Verdict(allowed=True), 0) if first_visit else count_refusal(request)
        if not verdict.allowed:
            if verdict.first_refusal:
                audit_refusal_flood(request, limit)
            limited = RateLimited("refused", verdict.retry_after)
            return error_response(
                429, "rate_limited", str(limited), headers={"Retry-After": str(verdict.retry_after)}
            )
        if isinstance(exc, LoginRequired):
            if request.cookies.get(ACCESS_COOKIE):
                audit_refusal(request, exc)  # a stale or forged cookie, not just a first visit
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        audit_refusal(request, exc)
        if getattr(request.state, "page", False) and "text/html" in request.headers.get("accept", ""):
            from safecity.web.pages import refusal_page

            return refusal_page(request, exc)
        headers = (
            {"WWW-Authenticate": 'Bearer realm="safecity"'} if isinstance(exc, NotAuthenticated) else None
        )
        return error_response(exc.status, exc.code, exc.message, field=exc.field, headers=headers)

    @app.exception_handler(RateLimited)
    async def _limited(_: Request, exc: RateLimited) -> JSONResponse:
        return error_response(429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": field_of(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = details[0] if details else {"field": None, "message": "invalid request"}
        return error_response(
            422,
            "invalid_request",
            f"{first['field']}: {first['message']}",
            field=first["field"],
            details=details,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("web.unhandled_error", path=request.url.path)
        return error_response(500, "internal_error", "an internal error occurred; it has been logged")
