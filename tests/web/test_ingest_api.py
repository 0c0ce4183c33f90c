"""POST /api/v1/ingest keeps the contract of docs/ingest.md: credentials, limits, counts, errors."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.platform import Platform
from safecity.registry import DeviceStatus
from safecity.registry.models import Device
from safecity.store import transaction
from safecity.web.app import create_app
from tests.web.conftest import STATION, admin, fresh_platform, ndjson, read, register_device

INGEST = "/api/v1/ingest"
RESULT_KEYS = {
    "batch_id",
    "received",
    "accepted",
    "stored",
    "dead_lettered",
    "duplicates",
    "error",
    "rejected",
}


def post(
    api: TestClient, body: bytes | Iterator[bytes], secret: str | None, device: str = STATION, **kw: Any
) -> Any:
    """Upload a body as `device` (no credentials when secret is None)."""
    auth = (device, secret) if secret is not None else None
    return api.post(INGEST, content=body, auth=auth, **kw)


def assert_counts_add_up(result: dict[str, Any]) -> None:
    """Every event is counted once (docs/ingest.md section 4)."""
    assert result["received"] == result["accepted"] + result["duplicates"]
    assert result["accepted"] == result["stored"] + result["dead_lettered"]
    assert result["dead_lettered"] == len(result["rejected"])


def assert_unauthenticated(answer: Any) -> dict[str, Any]:
    """A 401 with a Basic challenge and the error envelope; returns the error."""
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic ")
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "unauthenticated" and error["message"]
    return error


@pytest.fixture
def secret(api: TestClient) -> str:
    """The secret of base station BS-000123, registered through the API."""
    return register_device(api)


@pytest.fixture(scope="module")
def shared(schema_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """One running app and station secret for the tests that only look at single answers."""
    platform = fresh_platform(schema_db, tmp_path_factory.mktemp("ingest"))
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield client, register_device(client)


def test_registered_device_uploads_ndjson_and_gets_the_counts(api: TestClient, secret: str) -> None:
    answer = post(api, ndjson([read(1), read(2), read(3, kind="heartbeat", subject=None)]), secret)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert set(result) == RESULT_KEYS
    assert (result["received"], result["accepted"], result["stored"]) == (3, 3, 3)
    assert (result["dead_lettered"], result["duplicates"]) == (0, 0)
    assert (result["rejected"], result["error"]) == ([], None)
    assert result["batch_id"]


def test_json_array_body_is_accepted_like_ndjson(api: TestClient, secret: str) -> None:
    events = [
        read(1),
        read(2, id=424242, attrs={"rssi": -61}, unknown_field="ignored"),
        read(3, subject="xyz"),
    ]
    body = json.dumps(events, indent=2).encode()  # an array over several lines
    answer = post(api, body, secret, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["stored"] == 2
    assert [(r["index"], r["field"]) for r in result["rejected"]] == [(2, "subject")]  # the array index


def test_wrong_secret_is_refused_with_a_challenge(api: TestClient, secret: str) -> None:
    error = assert_unauthenticated(post(api, ndjson([read(1)]), secret + "x"))
    assert error["field"] is None
    assert secret not in json.dumps(error)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer abc"},
        {"authorization": "Basic"},
        {"authorization": "Basic !!!not-base64!!!"},
        {"authorization": "Basic QlMtMDAwMTIz"},  # "BS-000123": no colon, no secret
        {"authorization": "Basic //79/A=="},  # not UTF-8
    ],
)
def test_missing_or_unreadable_credentials_are_refused(
    shared: tuple[TestClient, str], headers: dict[str, str]
) -> None:
    api, _ = shared
    assert_unauthenticated(api.post(INGEST, content=ndjson([read(1)]), headers=headers))


def test_unknown_device_is_refused(shared: tuple[TestClient, str]) -> None:
    api, secret = shared
    assert_unauthenticated(post(api, ndjson([read(1)]), secret, device="BS-999999"))


def test_disabled_device_is_refused(api: TestClient, platform: Platform, secret: str) -> None:
    with transaction(platform.session_factory) as session:
        device = session.get(Device, STATION)
        assert device is not None
        device.status = DeviceStatus.DISABLED
    platform.devices.invalidate()  # what a registry notice does
    error = assert_unauthenticated(post(api, ndjson([read(1)]), secret))
    assert "disabled" in error["message"]


def test_rotated_secret_replaces_the_old_one_at_once(api: TestClient, secret: str) -> None:
    assert post(api, ndjson([read(1)]), secret).status_code == 200
    answer = api.post(f"/api/v1/devices/{STATION}/secret", headers=admin(api))
    assert answer.status_code == 200
    new = answer.json()["secret"]
    assert new != secret and answer.json()["device"]["id"] == STATION
    assert_unauthenticated(post(api, ndjson([read(2)]), secret))
    assert post(api, ndjson([read(3)]), new).json()["stored"] == 1


def test_revoked_device_is_refused_at_once_until_given_a_new_secret(api: TestClient, secret: str) -> None:
    assert post(api, ndjson([read(1)]), secret).status_code == 200
    revoked = api.post(f"/api/v1/devices/{STATION}/revoke", headers=admin(api))
    assert (revoked.status_code, revoked.json()["status"]) == (200, "disabled")
    assert_unauthenticated(post(api, ndjson([read(2)]), secret))
    renewed = api.post(f"/api/v1/devices/{STATION}/secret", headers=admin(api)).json()
    assert renewed["device"]["status"] == "active"
    assert post(api, ndjson([read(3)]), renewed["secret"]).json()["stored"] == 1


def test_rotating_an_unknown_device_is_404(api: TestClient) -> None:
    answer = api.post("/api/v1/devices/BS-999999/secret", headers=admin(api))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NotFound"


@pytest.fixture
def small_api(schema_db: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The app with a 2 KiB body limit and at most 5 events a batch."""
    platform = fresh_platform(schema_db, tmp_path, max_body_bytes=2048, max_batch_events=5)
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield client


def test_body_over_the_limit_is_413(small_api: TestClient) -> None:
    secret = register_device(small_api)
    body = ndjson([read(i) for i in range(40)])
    assert len(body) > 2048
    answer = post(small_api, body, secret)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"
    assert "2048" in answer.json()["error"]["message"]
    assert post(small_api, ndjson([read(1)]), secret).status_code == 200


def test_streamed_body_over_the_limit_is_413_without_a_length(small_api: TestClient) -> None:
    secret = register_device(small_api)
    chunks = [ndjson([read(i)]) + b"\n" for i in range(40)]
    answer = post(small_api, iter(chunks), secret)  # chunked transfer: no Content-Length to trust
    assert answer.status_code == 413
    counts = small_api.get("/api/v1/reconciliation", headers=admin(small_api)).json()
    assert (counts["received"], counts["ok"]) == (0, True)


def test_batch_with_too_many_events_is_400_and_nothing_is_stored(small_api: TestClient) -> None:
    secret = register_device(small_api)
    answer = post(small_api, ndjson([read(i) for i in range(6)]), secret)
    assert answer.status_code == 400
    assert "at most 5" in answer.json()["error"]["message"]
    counts = small_api.get("/api/v1/reconciliation", headers=admin(small_api)).json()
    assert (counts["stored_lake"], counts["bodies_refused"], counts["ok"]) == (0, 1, True)


@pytest.mark.parametrize("body", [b"", b"   \n", b"hello", b"[1, 2", b'"a string"', b"\xff\xfe\x00"])
def test_unreadable_body_is_400_naming_body(shared: tuple[TestClient, str], body: bytes) -> None:
    api, secret = shared
    answer = post(api, body, secret)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("bad_body", "body")
    assert error["message"]


def test_refused_events_are_listed_by_index_with_field_and_reason(api: TestClient, secret: str) -> None:
    events = [
        read(0),
        read(1, subject="00c0ffee11"),
        read(2, kind="bogus"),
        read(3, ts="2026-11-22T07:59:00"),  # no zone: refused, never guessed
        read(4),
    ]
    # Blank lines do not count: the index is the number of the non-blank NDJSON line.
    body = ndjson(events[:2]) + b"\n\n" + ndjson(events[2:])
    result = post(api, body, secret).json()
    assert_counts_add_up(result)
    assert (result["stored"], result["dead_lettered"]) == (2, 3)
    by_index = {r["index"]: r for r in result["rejected"]}
    assert sorted(by_index) == [1, 2, 3]
    assert [by_index[i]["field"] for i in (1, 2, 3)] == ["subject", "kind", "ts"]
    assert [by_index[i]["event_id"] for i in (1, 2, 3)] == [f"{STATION}-{i}" for i in (1, 2, 3)]
    assert "upper-case hexadecimal" in by_index[1]["reason"]
    assert "bogus" in by_index[2]["reason"]


def test_event_claiming_another_device_is_refused_naming_device(api: TestClient, secret: str) -> None:
    register_device(api, "BS-000999")
    result = post(api, ndjson([read(1, device=STATION), read(2, device="BS-000999")]), secret).json()
    assert result["stored"] == 1
    [rejection] = result["rejected"]
    assert (rejection["index"], rejection["field"]) == (1, "device")


def test_resent_batch_is_counted_as_duplicates_and_reconciles(api: TestClient, secret: str) -> None:
    body = ndjson([read(1), read(2), read(3, subject="bad")])
    first = post(api, body, secret).json()
    again = post(api, body, secret).json()
    assert (first["stored"], first["dead_lettered"], first["duplicates"]) == (2, 1, 0)
    # A refused event is not remembered as accepted-and-stored, so only the stored ones are duplicates.
    assert (again["stored"], again["duplicates"]) == (0, 2)
    for result in (first, again):
        assert_counts_add_up(result)
    post(api, b"not json", secret)
    counts = api.get("/api/v1/reconciliation", headers=admin(api)).json()
    assert counts["ok"] is True
    assert (counts["stored_lake"], counts["bodies_refused"]) == (2, 1)
    assert counts["received"] == 6


def break_lake(platform: Platform) -> Path:
    """Put a file where the lake folder should be, so that the next write fails; return its path."""
    lake = platform.settings.resolved_lake_dir
    shutil.rmtree(lake)
    lake.write_text("a file where the lake folder should be")
    return lake


def test_storage_failure_is_503_with_retry_after_and_a_retry_succeeds(
    api: TestClient, platform: Platform, secret: str
) -> None:
    lake = break_lake(platform)
    answer = post(api, ndjson([read(1)]), secret)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "storage_unavailable"
    lake.unlink()
    lake.mkdir()
    assert post(api, ndjson([read(1)]), secret).json()["stored"] == 1


def test_a_503_tells_the_device_nothing_of_the_server_s_paths(
    api: TestClient, platform: Platform, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lake's error names its files; the device hears only that storage is away (issue 9, 14)."""
    lake = break_lake(platform)
    answer = post(api, ndjson([read(1)]), secret)
    assert answer.status_code == 503
    message = answer.json()["error"]["message"]
    assert "storage" in message and "retry" in message
    for secret_detail in (str(platform.settings.data_dir), str(lake), "Errno", ".parquet"):
        assert secret_detail not in answer.text
    assert str(lake) in capsys.readouterr().out  # the detail is logged for the operator


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"id": "BS-000123-1", "kind": "rfid_read", "ts": "2026-11-22T07:59:00Z", "subj', "not JSON"),
        ('{"id": "BS-000123-1", "kind": "plate_read", "subject": "浙C12345"}'.encode("gbk"), "UTF-8"),
    ],
)
def test_a_body_that_cannot_be_read_as_a_whole_is_a_400_and_nothing_is_stored(
    api: TestClient, secret: str, body: bytes, says: str
) -> None:
    """docs/ingest.md section 4: a truncated object or non-UTF-8 bytes are not a batch (issue 9, 19)."""
    answer = post(api, body, secret)

    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("bad_body", "body")
    assert says in error["message"]
    counts = api.get("/api/v1/reconciliation", headers=admin(api)).json()
    assert (counts["ok"], counts["stored_lake"], counts["bodies_refused"]) == (True, 0, 1)


def test_a_body_with_a_byte_order_mark_is_stored(api: TestClient, secret: str) -> None:
    answer = post(api, b"\xef\xbb\xbf" + ndjson([read(1)]), secret)

    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 1


NASTY_BODIES = [
    b"[]",
    b"{}",
    b"[{}]",
    b"[null, 1, true]",
    b'[{"id": "x"}]',
    b"{" * 5000,
    b"[" * 5000 + b"]" * 5000,
    b'{"id": "e1", "attrs": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    b'[{"id": "e1", "attrs": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}]",
    b'{"id": "e1", "kind": "rfid_read", "ts": 1e999, "subject": "00A1B2C3D4"}',
    b'{"id": "e1", "kind": "rfid_read", "ts": 99999999999999999999999, "subject": "00A1B2C3D4"}',
    b'{"id": "e1", "kind": "rfid_read", "ts": -1, "subject": "00A1B2C3D4"}',
    b'{"id": "e1", "kind": "rfid_read", "ts": "2026-11-22T07:59:00Z", "lat": "NaN", "lon": 1}',
    b'{"id": "\\ud800", "kind": "rfid_read", "ts": "2026-11-22T07:59:00Z", "subject": "00A1B2C3D4"}',
    b'{"id": "e1", "kind": "rfid_read", "ts": "2026-11-22T07:59:00Z", "subject": "\xff\xfe"}',
    b'\xef\xbb\xbf{"id": "e1", "kind": "heartbeat", "ts": "2026-11-22T07:59:00Z"}',
    b'{"id": "e1", "kind": "heartbeat", "ts": "2026-11-22T07:59:00Z", "attrs": {"x": "%s"}}' % (b"y" * 5000),
    b'{"id": ["e1"], "kind": {"a": 1}, "ts": [], "subject": 5, "value": "many", "corr": 7}',
    b'{"id": "e1", "kind": "heartbeat", "ts": "2026-11-22T07:59:00Z"}\n\x00\n{"id": "e2"}',
    b'{"id": "e1", "kind": "heartbeat", "ts": "2026-11-22T07:59:00Z", "v": 18446744073709551616}',
    b'{"id": "e1", "kind": "heartbeat", "ts": "2026-11-22T07:59:00+25:00"}',
    b'{"id": "e1", "kind": "heartbeat", "ts": "0000-00-00T00:00:00Z"}',
    b'[{"id": "e1", "kind": "heartbeat", "ts": "2026-11-22T07:59:00Z"}, [1], "x"]',
    b"\r\n\r\n",
    b" [ ] ",
]


def assert_answer_is_well_formed(answer: Any) -> None:
    """A 200 with consistent counts, or a 400 naming the body; never a 500."""
    assert answer.status_code in (200, 400), (answer.status_code, answer.text)
    payload = answer.json()
    if answer.status_code == 200:
        assert set(payload) == RESULT_KEYS
        assert_counts_add_up(payload)
    else:
        assert payload["error"]["field"] == "body"


@pytest.mark.parametrize("body", NASTY_BODIES)
def test_nasty_bodies_get_a_clear_answer(shared: tuple[TestClient, str], body: bytes) -> None:
    api, secret = shared
    assert_answer_is_well_formed(post(api, body, secret))
    assert api.get("/api/v1/reconciliation", headers=admin(api)).json()["ok"] is True


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=10) | st.integers(),
        "kind": st.sampled_from(["rfid_read", "heartbeat", "tracker_fix", "nope"]) | json_values,
        "ts": st.sampled_from(["2026-11-22T07:59:00Z", "1795334340000"]) | json_values,
        "subject": st.sampled_from(["00A1B2C3D4", "TRK-1"]) | json_values,
        "lat": json_values,
        "lon": json_values,
        "attrs": json_values,
        "device": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.lists(event_like, max_size=5).map(lambda evs: json.dumps(evs).encode()),
    st.lists(event_like, min_size=1, max_size=5).map(lambda evs: "\n".join(map(json.dumps, evs)).encode()),
)


@settings(max_examples=30, deadline=None)
@given(body=bodies)
def test_no_body_makes_the_server_answer_500(shared: tuple[TestClient, str], body: bytes) -> None:
    api, secret = shared
    assert_answer_is_well_formed(post(api, body, secret))
