"""Per-address rate limits for sign-in and other unauthenticated endpoints.

A fixed one-minute window per (bucket, address), in memory: enough to blunt password guessing and
floods against one process. Behind several processes, put the same limits on the reverse proxy.
Refusals answer 429 with Retry-After and are not audited (a flood must not flood the trail). Refused
requests (401, 403) are counted per address too: past their limit the address gets 429, and
the trail keeps one record saying so instead of one per refusal.
"""

from __future__ import annotations

import threading
import time

from fastapi import Request

from safecity.web.deps import client_of


class RateLimited(Exception):
    """Too many requests from one address; retry after `retry_after` seconds."""

    def __init__(self, bucket: str, retry_after: int) -> None:
        super().__init__(f"too many {bucket} requests from this address; retry in {retry_after} s")
        self.bucket = bucket
        self.retry_after = retry_after


class RateLimiter:
    """Counts requests per key in one-minute windows."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, key: str, *, per_minute: int, now: float | None = None) -> None:
        """Count one request; raise RateLimited past the limit."""
        count, retry_after = self.count(bucket, key, now=now)
        if count > per_minute:
            raise RateLimited(bucket, retry_after)

    def count(self, bucket: str, key: str, *, now: float | None = None) -> tuple[int, int]:
        """Count one request; how many this window holds now, and seconds until the window ends."""
        now = time.monotonic() if now is None else now
        window = int(now // 60)
        with self._lock:
            if len(self._counts) > 100_000:  # forget old windows rather than grow without bound
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            seen_window, count = self._counts.get((bucket, key), (window, 0))
            if seen_window != window:
                count = 0
            count += 1
            self._counts[(bucket, key)] = (window, count)
        return count, max(1, 60 - int(now % 60))


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


def count_refusal(request: Request) -> tuple[int, int, int]:
    """Count a refused request of its address: (refusals this minute, the limit, seconds left)."""
    per_minute = request.app.state.platform.settings.rate_limit_refused_per_min
    count, retry_after = limiter_of(request).count("refused", client_of(request))
    return count, per_minute, retry_after
