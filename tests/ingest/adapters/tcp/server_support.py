"""Shared pieces of the tracker server tests: a gated intake, a connected terminal, frame helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.ingest import IngestPipeline
from safecity.ingest.models import DeadLetter
from safecity.ingest.pipeline import IngestResult, StorageUnavailable, Submission

QUIET_S = 0.3  # how long a test listens to be sure the server sent nothing


class GatedIntake:
    """The real pipeline behind a gate: a test can hold a submission or make storage fail."""

    def __init__(self, pipeline: IngestPipeline) -> None:
        self.pipeline = pipeline
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.down = False

    async def submit_parts(self, parts: Sequence[Submission]) -> list[IngestResult]:
        self.entered.set()
        await self.gate.wait()
        if self.down:
            raise StorageUnavailable("storage is unavailable, retry later: test")
        return await self.pipeline.submit_parts(parts)

    async def refuse_parts(self, parts: Sequence[Submission], reason: str) -> list[IngestResult]:
        return await self.pipeline.refuse_parts(parts, reason)


class Terminal:
    """A terminal's side of one TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Terminal:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, *chunks: bytes) -> None:
        """Write each chunk as its own TCP write."""
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()

    async def receive(self, size: int, timeout_s: float = 5.0) -> bytes:
        """Exactly `size` bytes from the server."""
        return await asyncio.wait_for(self.reader.readexactly(size), timeout_s)

    async def is_silent(self) -> bool:
        """Whether the server sends nothing (and keeps the connection open) for QUIET_S."""
        try:
            await asyncio.wait_for(self.reader.read(1), QUIET_S)
        except TimeoutError:
            return True
        return False  # a byte, or the end of the stream

    async def is_closed(self, timeout_s: float = 5.0) -> bool:
        """Whether the server closed the connection (end of stream)."""
        return await asyncio.wait_for(self.reader.read(1), timeout_s) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def dead_letters(factory: sessionmaker[Session]) -> list[DeadLetter]:
    """Every dead letter, oldest first."""
    with factory() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all())
