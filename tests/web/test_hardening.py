"""Every answer carries the security headers; big bodies are refused (and audited); no stack traces."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from tests.web.conftest import fresh_platform


def test_api_and_pages_carry_the_security_headers(api: TestClient) -> None:
    for path in ("/api/v1/auth/me", "/healthz", "/login"):
        headers = api.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "unsafe-inline" not in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in headers  # only when served over TLS
    assert api.get("/api/v1/auth/me").headers["cache-control"] == "no-store"


def test_hsts_and_secure_cookies_behind_tls(schema_db: Path, tmp_path: Path) -> None:
    platform = fresh_platform(schema_db, tmp_path, behind_tls=True)
    from safecity.web.app import create_app

    with TestClient(create_app(platform, manage_platform=False), base_url="https://testserver") as client:
        answer = client.get("/login")
        assert answer.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "secure" in answer.headers["set-cookie"].lower()
    platform.engine.dispose()


def test_a_body_over_the_limit_is_413_before_it_is_read_and_audited(
    api: TestClient, platform: Platform
) -> None:
    big = b"x" * (platform.settings.max_request_bytes + 1)
    answer = api.post("/api/v1/cases", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"
    with platform.session_factory() as session:
        refused = audit.search(session, AuditFilter(outcome="refused"))
    assert [(r.status, r.resource) for r in refused] == [(413, "POST /api/v1/cases")]


def test_a_streamed_body_over_the_limit_is_413(api: TestClient, platform: Platform) -> None:
    def chunks() -> object:
        for _ in range(20):
            yield b"y" * (platform.settings.max_request_bytes // 10)

    answer = api.post("/api/v1/cases", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_an_unexpected_error_is_a_generic_500_without_a_trace(api: TestClient, platform: Platform) -> None:
    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals: /srv/db password=hunter2")

    platform.alerts.list_alerts = boom  # type: ignore[method-assign]
    answer = api.get("/api/v1/alerts")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "hunter2" not in answer.text and "Traceback" not in answer.text


def test_an_anonymous_flood_is_rate_limited_and_keeps_the_trail_small(
    schema_db: Path, tmp_path: Path
) -> None:
    """Issue 9 item 8: 300 refused requests with a 12,000-character purpose from one address."""
    platform = fresh_platform(schema_db, tmp_path, rate_limit_refused_per_min=30)
    from safecity.web.app import create_app

    purpose = "p" * 12_000
    with TestClient(create_app(platform, manage_platform=False)) as client:
        answers = [
            client.get("/api/v1/people/1", params={"case_id": "C2026-000001", "purpose": purpose})
            for _ in range(300)
        ]
    statuses = [a.status_code for a in answers]
    assert statuses[:30] == [401] * 30
    assert set(statuses[30:]) == {429}
    assert int(answers[-1].headers["retry-after"]) >= 1
    with platform.session_factory() as session:
        refused = audit.search(session, AuditFilter(outcome="refused", limit=1000))
    # Each refusal up to the limit, and one record saying the rest from that address were not.
    assert len(refused) == 31
    assert max(len(r.purpose or "") for r in refused) <= 500
    assert sum(len(r.resource) + len(r.purpose or "") + len(r.detail) for r in refused) < 31 * 1_200
    [limited] = [r for r in refused if r.status == 429]
    assert "not recorded one by one" in limited.detail
    platform.engine.dispose()
