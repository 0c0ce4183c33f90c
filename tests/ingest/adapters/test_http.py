"""The HTTP adapter: credentials first, then the size, then the pipeline; refusals as the route answers."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from safecity.ingest import IngestPipeline
from safecity.ingest.adapters.http import HttpIngest, Refusal, basic_credentials, read_limited
from tests.ingest.conftest import ListSink, ndjson, read


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


class Body:
    """A request body stream that notes whether anyone read it."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.read = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.read = True
        for chunk in self.chunks:
            yield chunk


@pytest.fixture
def adapter(pipeline: IngestPipeline) -> HttpIngest:
    return HttpIngest(pipeline, pipeline.devices, max_body_bytes=2000)


def test_basic_credentials_are_read_and_anything_else_is_none() -> None:
    assert basic_credentials(basic("BS-000001", "s:e:cret")) == ("BS-000001", "s:e:cret")
    assert basic_credentials("basic " + base64.b64encode(b"d:").decode()) == ("d", "")
    for header in (
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!",
        basic("", "x"),
        "Basic " + base64.b64encode(b"d").decode(),
    ):
        assert basic_credentials(header) is None, header


async def test_a_body_is_read_only_up_to_the_limit() -> None:
    assert await read_limited(Body(b"ab", b"cd"), 4) == b"abcd"
    assert await read_limited(Body(b"ab", b"cde"), 4) is None
    declared_too_long = Body(b"ab")
    assert await read_limited(declared_too_long, 4, "5") is None
    assert not declared_too_long.read


async def test_a_device_batch_is_stored_under_the_authenticated_device(
    adapter: HttpIngest, sink: ListSink, secrets_: dict[str, str]
) -> None:
    answer = await adapter.receive(
        authorization=basic("BS-000001", secrets_["BS-000001"]),
        content_length=None,
        body=Body(ndjson([read(1), read(2, kind="bogus")])),
    )

    assert not isinstance(answer, Refusal)
    assert (answer.stored, answer.dead_lettered, answer.rejected[0].field) == (1, 1, "kind")
    assert sink.all.select("device", "source").rows() == [("BS-000001", "http")]


async def test_wrong_credentials_are_refused_before_the_body_is_read(
    adapter: HttpIngest, sink: ListSink
) -> None:
    for authorization in ("", basic("BS-000001", "guess")):
        body = Body(ndjson([read(1)]))
        answer = await adapter.receive(authorization=authorization, content_length=None, body=body)
        assert isinstance(answer, Refusal)
        assert (answer.status, answer.code) == (401, "unauthenticated")
        assert answer.headers == {"WWW-Authenticate": 'Basic realm="safecity devices"'}
        assert not body.read
    assert sink.frames == []


async def test_too_large_unreadable_and_unstorable_bodies_are_refused_as_the_route_answers(
    adapter: HttpIngest, sink: ListSink, secrets_: dict[str, str]
) -> None:
    auth = basic("BS-000001", secrets_["BS-000001"])

    large = await adapter.receive(authorization=auth, content_length=None, body=Body(b"x" * 2001))
    unreadable = await adapter.receive(authorization=auth, content_length=None, body=Body(b"hello"))
    sink.fail = True
    unstorable = await adapter.receive(authorization=auth, content_length=None, body=Body(ndjson([read(1)])))

    assert isinstance(large, Refusal) and (large.status, large.code) == (413, "body_too_large")
    assert isinstance(unreadable, Refusal)
    assert (unreadable.status, unreadable.code, unreadable.field) == (400, "bad_body", "body")
    assert isinstance(unstorable, Refusal)
    assert (unstorable.status, unstorable.code, unstorable.headers) == (
        503,
        "storage_unavailable",
        {"Retry-After": "5"},
    )
