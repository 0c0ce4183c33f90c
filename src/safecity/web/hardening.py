"""HTTP hardening for every answer: security headers, request size limits, no caching of data.

- Content-Security-Policy without inline script or style (the console's pages are built for it);
  the interactive API docs (/docs, /redoc) load FastAPI's bundled inline bootstrap and are exempt.
- HSTS only when the console is served over TLS (`behind_tls`), since it pins HTTPS for a year.
- Bodies larger than `max_request_bytes` are refused with 413 before they are read, except the
  ingest endpoint, which enforces its own (larger) limit while streaming.
- JSON answers carry `Cache-Control: no-store`: person-level data must not linger in caches.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
CSP_EXEMPT = ("/docs", "/redoc")
OWN_LIMIT = ("/api/v1/ingest",)

Message = dict[str, Any]


class Hardening:
    """ASGI middleware applying the rules above."""

    def __init__(
        self,
        app: Any,
        *,
        max_request_bytes: int,
        hsts: bool,
        on_refused: Callable[[Message, int, str], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.hsts = hsts
        self.on_refused = on_refused

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        """Check the size, then pass through adding headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limited = not path.startswith(OWN_LIMIT)
        if limited and self._declared_length(scope) > self.max_request_bytes:
            await self._too_large(send)
            await self._refused(scope)
            return

        received = 0
        refused = False

        async def counted_receive() -> Message:
            # A streamed body (no Content-Length) that grows too large: answer 413 ourselves and
            # tell the app the client left, so it stops reading; anything it sends is dropped.
            nonlocal received, refused
            message: Message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_request_bytes and not refused:
                    refused = True
                    await self._too_large(send)
                    await self._refused(scope)
                    return {"type": "http.disconnect"}
            return message

        async def send_with_headers(message: Message) -> None:
            if refused:
                return
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    # Geolocation for our own pages only: the visit list walks from where the officer stands.
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
                ]
                if not path.startswith(CSP_EXEMPT):
                    extra.append((b"content-security-policy", CSP.encode()))
                if self.hsts:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                if path.startswith("/api/") and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                headers.extend(h for h in extra if h[0] not in names)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, counted_receive if limited else receive, send_with_headers)
        except Exception:
            if not refused:
                raise

    @staticmethod
    def _declared_length(scope: Message) -> int:
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _refused(self, scope: Message) -> None:
        if self.on_refused is not None:
            await self.on_refused(scope, 413, "body_too_large")

    async def _too_large(self, send: Any) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "body_too_large",
                    "message": f"request body larger than {self.max_request_bytes} bytes",
                    "field": None,
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
