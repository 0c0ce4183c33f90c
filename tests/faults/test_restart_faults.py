"""Old events re-sent after a restart, graceful or `kill -9`, are recognised as duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.faults.harness import Server, assert_each_stored_once, ndjson, readings

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


def test_old_events_resent_after_restarts_are_stored_once(server: Server, secrets: dict[str, str]) -> None:
    device, secret = next(iter(secrets.items()))
    now = datetime.now(UTC)
    two_days = readings(device, "two-days", 0, 20, at=now - timedelta(days=2))
    six_days = readings(device, "six-days", 0, 20, at=now - timedelta(days=6, hours=12))

    def post(events: list[dict[str, object]]) -> dict[str, int]:
        answer = httpx.post(
            f"{server.url}/api/v1/ingest", content=ndjson(events), auth=(device, secret), timeout=15
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    server.start()
    assert post(two_days)["stored"] == 20
    server.stop()  # graceful
    server.start()
    assert post(two_days)["duplicates"] == 20
    assert post(six_days)["stored"] == 20
    server.kill()  # abrupt
    server.start()

    assert (post(two_days)["duplicates"], post(six_days)["duplicates"]) == (20, 20)
    assert_each_stored_once(server, {e["id"] for e in two_days + six_days})
