"""The per-address limiter: a sliding minute, so a burst that straddles a minute boundary stays limited."""

from __future__ import annotations

from safecity.web.ratelimit import RateLimiter


def test_a_burst_across_a_minute_boundary_is_still_refused() -> None:
    limiter = RateLimiter()
    start = 59.5  # half a second before a fixed window would have rolled over
    verdicts = [limiter.take("refused", "10.0.0.1", per_minute=30, now=start + i * 0.01) for i in range(100)]
    assert [v.allowed for v in verdicts] == [True] * 30 + [False] * 70
    assert [v.first_refusal for v in verdicts].count(True) == 1
    assert verdicts[30].first_refusal


def test_the_address_is_let_in_again_a_minute_after_its_oldest_request() -> None:
    limiter = RateLimiter()
    for i in range(30):
        assert limiter.take("public", "a", per_minute=30, now=100.0 + i).allowed
    refused = limiter.take("public", "a", per_minute=30, now=130.0)
    assert not refused.allowed
    assert refused.retry_after == 30  # the request at t=100 leaves the window at t=160
    assert limiter.take("public", "a", per_minute=30, now=160.5).allowed
    assert limiter.take("public", "b", per_minute=30, now=130.0).allowed  # other addresses unaffected


def test_a_new_flood_after_a_quiet_spell_is_reported_again() -> None:
    limiter = RateLimiter()
    for i in range(3):
        limiter.take("refused", "a", per_minute=2, now=float(i))
    assert limiter.take("refused", "a", per_minute=2, now=200.0).allowed
    limiter.take("refused", "a", per_minute=2, now=200.1)
    assert limiter.take("refused", "a", per_minute=2, now=200.2).first_refusal
