"""Per-address rate limits for sign-in and other unauthenticated endpoints.

A sliding one-minute log per (bucket, address), in memory: enough to blunt password guessing and
floods against one process. Behind several processes, put the same limits on the reverse proxy.
A sliding window, not fixed minutes: a fixed window lets a burst straddling the minute boundary
through at twice the limit (and made the limit's own test flaky). Refusals answer 429 with
Retry-After and are not audited (a flood must not flood the trail). Refused requests (401, 403)
are counted per address too: past their limit the address gets 429, and the trail keeps one record
per flood saying so instead of one per refusal.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from fastapi import Request

from safecity.web.deps import client_of

WINDOW_S = 60.0
MAX_KEYS = 100_000


class RateLimited(Exception):
    """Too many requests from one address; retry after `retry_after` seconds."""

    def __init__(self, bucket: str, retry_after: int) -> None:
        super().__init__(f"too many {bucket} requests from this address; retry in {retry_after} s")
        self.bucket = bucket
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Verdict:
    """One request's fate: let in or not, whether it starts a flood, and when to come back."""

    allowed: bool
    first_refusal: bool = False
    retry_after: int = 0


class _Log:
    """The times of one key's admitted requests within the window, and whether it is flooding."""

    __slots__ = ("flooding", "times")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.flooding = False


class RateLimiter:
    """Admits at most `per_minute` requests per key in any sixty seconds."""

    def __init__(self) -> None:
        self._logs: dict[tuple[str, str], _Log] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, key: str, *, per_minute: int, now: float | None = None) -> None:
        """Count one request; raise RateLimited past the limit."""
        verdict = self.take(bucket, key, per_minute=per_minute, now=now)
        if not verdict.allowed:
            raise RateLimited(bucket, verdict.retry_after)

    def take(self, bucket: str, key: str, *, per_minute: int, now: float | None = None) -> Verdict:
        """Admit one request if the key has room in the last minute; refused ones are not logged."""
        now = time.monotonic() if now is None else now
        horizon = now - WINDOW_S
        with self._lock:
            if len(self._logs) > MAX_KEYS:  # forget quiet keys rather than grow without bound
                self._logs = {k: v for k, v in self._logs.items() if v.times and v.times[-1] > horizon}
            log = self._logs.setdefault((bucket, key), _Log())
            while log.times and log.times[0] <= horizon:
                log.times.popleft()
            if len(log.times) < per_minute:
                log.times.append(now)
                log.flooding = False
                return Verdict(allowed=True)
            first = not log.flooding
            log.flooding = True
            oldest = log.times[0] if log.times else now
            return Verdict(False, first, max(1, math.ceil(oldest + WINDOW_S - now)))


def limiter_of(request: Request) -> RateLimiter:
    """The app's limiter (created on first use)."""
    state = request.app.state
    if not hasattr(state, "rate_limiter"):
        state.rate_limiter = RateLimiter()
    limiter: RateLimiter = state.rate_limiter
    return limiter


def limit_login(request: Request) -> None:
    """Sign-in and refresh attempts per address."""
    per_minute = request.app.state.platform.settings.rate_limit_login_per_min
    limiter_of(request).hit("sign-in", client_of(request), per_minute=per_minute)


def limit_public(request: Request) -> None:
    """Other unauthenticated requests per address."""
    per_minute = request.app.state.platform.settings.rate_limit_public_per_min
    limiter_of(request).hit("public", client_of(request), per_minute=per_minute)


def count_refusal(request: Request) -> tuple[Verdict, int]:
    """Count a refused request of its address: its verdict, and the limit it was held to."""
    per_minute = request.app.state.platform.settings.rate_limit_refused_per_min
    return limiter_of(request).take("refused", client_of(request), per_minute=per_minute), per_minute
