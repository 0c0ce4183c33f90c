"""HTTP device adapter: one batch per request, the device authenticated by HTTP Basic (id and secret).

Free of the web framework: the route (`web/api/ingest.py`) hands over the Authorization and
Content-Length headers and the body stream, and turns the answer into a response. The order of
checks is the device's contract: credentials first (401, before reading a byte of the body),
then the size (413, given up as soon as it is passed), then the pipeline (503 while storage is
away, 400 for a body refused whole, else the result).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Protocol

import structlog

from safecity.ingest.adapters.base import Intake
from safecity.ingest.devices import DeviceAuth
from safecity.ingest.pipeline import IngestResult, Part, StorageUnavailable

log = structlog.get_logger(__name__)

SOURCE = "http"
# What a device hears while storage is away. Never the exception's text: it names the server's
# files (the lake's temporary file, say), which the operator reads in the log instead.
STORAGE_UNAVAILABLE = "storage is unavailable; nothing was accepted: retry later with the same ids"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="safecity devices"'}


class Authenticator(Protocol):
    """Checks a device's credentials (DeviceDirectory implements it)."""

    def authenticate(self, device_id: str, secret: str) -> DeviceAuth:
        """Whether the device id and secret are a registered, active device's."""
        ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request answered with an error instead of a result."""

    status: int
    code: str
    message: str
    field: str | None = None
    headers: dict[str, str] | None = None


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """The device id and secret of an HTTP Basic Authorization header, or None."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, secret) if sep and user else None


async def read_limited(chunks: AsyncIterable[bytes], limit: int, declared: str | None = None) -> bytes | None:
    """Read the body, giving up (None) as soon as it passes `limit` bytes."""
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


class HttpIngest:
    """Takes one device request: authenticate, read within the limit, submit, answer."""

    def __init__(self, intake: Intake, devices: Authenticator, *, max_body_bytes: int) -> None:
        self._intake = intake
        self._devices = devices
        self._limit = max_body_bytes

    async def receive(
        self, *, authorization: str, content_length: str | None, body: AsyncIterable[bytes]
    ) -> IngestResult | Refusal:
        """The result of the device's batch, or why the request was refused."""
        creds = basic_credentials(authorization)
        if creds is None:
            message = "send HTTP Basic credentials: the device id and its secret"
            return Refusal(401, "unauthenticated", message, headers=CHALLENGE)
        auth = self._devices.authenticate(*creds)
        if not auth.ok:
            return Refusal(401, "unauthenticated", auth.reason, headers=CHALLENGE)
        data = await read_limited(body, self._limit, content_length)
        if data is None:
            message = f"the body is larger than {self._limit} bytes; split the batch"
            return Refusal(413, "body_too_large", message)
        try:
            [result] = await self._intake.submit_parts([Part(body=data, device_id=creds[0], source=SOURCE)])
        except StorageUnavailable as exc:
            log.warning("ingest.http_storage_unavailable", device=creds[0], error=str(exc))
            return Refusal(503, "storage_unavailable", STORAGE_UNAVAILABLE, headers={"Retry-After": "5"})
        if result.error is not None:
            return Refusal(400, "bad_body", result.error, field="body")
        return result
