"""The reader pool: a crashing or hanging image is isolated; the others are read."""

from __future__ import annotations

import asyncio

import pytest

from safecity.recognition.pool import ReaderFailed, ReaderPool
from tests.recognition._poison import read


async def _outcome(pool: ReaderPool, value: str) -> str:
    try:
        return await pool.run(read, value)
    except ReaderFailed as exc:
        return f"failed: {exc}"


def test_a_crashing_image_fails_alone_and_the_others_are_read() -> None:
    async def go() -> list[str]:
        pool = ReaderPool(2, timeout_s=20)
        try:
            return await asyncio.gather(*(_outcome(pool, v) for v in ("a", "crash", "b", "c", "exit", "d")))
        finally:
            pool.close()

    outcomes = asyncio.run(go())
    assert outcomes[0] == "A" and outcomes[2] == "B" and outcomes[3] == "C" and outcomes[5] == "D"
    assert outcomes[1].startswith("failed: the reader crashed")
    assert outcomes[4].startswith("failed: the reader crashed")


def test_a_hanging_image_times_out_and_the_pool_reads_on() -> None:
    async def go() -> list[str]:
        pool = ReaderPool(1, timeout_s=2)
        try:
            first = await _outcome(pool, "hang")
            return [first, await _outcome(pool, "after")]
        finally:
            pool.close()

    hung, after = asyncio.run(go())
    assert hung == "failed: reading took longer than 2 s"
    assert after == "AFTER"


@pytest.mark.parametrize("workers", [1])
def test_the_pool_answers_in_order_of_arguments(workers: int) -> None:
    async def go() -> list[str]:
        pool = ReaderPool(workers, timeout_s=20)
        try:
            return list(await asyncio.gather(*(pool.run(read, v) for v in "xyz")))
        finally:
            pool.close()

    assert asyncio.run(go()) == ["X", "Y", "Z"]
