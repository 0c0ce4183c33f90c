"""Images as the console may show them: never the original outside face review.

`masked` is every face mosaicked (the checkpoint view, a lost person's candidates); it is made
once per image in the reader pool and kept beside the original (`masked_path`). `for_review` is
the original with every face but the hit's mosaicked: the reviewer must see the face they judge,
and nobody else's. Both are read from files named by the image's row; a row gone (retention)
means no image.
"""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath

from sqlalchemy.orm import Session, sessionmaker

from safecity.recognition.errors import HitNotFound, ImageNotReady
from safecity.recognition.images import ImageFiles
from safecity.recognition.masking import write_masked
from safecity.recognition.models import CapturedImage, ImageStatus
from safecity.recognition.pool import ReaderPool
from safecity.store import transaction


class ShownImages:
    """Masked copies of camera images, made on first showing and kept."""

    def __init__(self, sessions: sessionmaker[Session], files: ImageFiles, pool: ReaderPool) -> None:
        self._sessions = sessions
        self._files = files
        self._pool = pool

    def _row(self, image_id: str) -> CapturedImage:
        with self._sessions() as session:
            image = session.get(CapturedImage, image_id)
            if image is None:
                raise HitNotFound(f"image {image_id} is no longer kept", field="image")
            if image.status == ImageStatus.QUEUED:
                raise ImageNotReady(f"image {image_id} is still being read", field="image")
            session.expunge(image)
            return image

    @staticmethod
    def _faces(image: CapturedImage) -> list[list[int]] | None:
        faces = (image.readings or {}).get("faces") if image.purpose in ("face", "any") else None
        return None if faces is None else [list(f["box"]) for f in faces]

    async def masked(self, image_id: str) -> bytes:
        """The image with every face mosaicked (made in the pool the first time, then kept)."""
        image = await asyncio.to_thread(self._row, image_id)
        if image.masked_path is None:
            relative = str(PurePosixPath(image.path).with_suffix(".masked.jpg"))
            await self._pool.run(
                write_masked,
                str(self._files.path(image.path)),
                str(self._files.path(relative)),
                self._faces(image),
            )
            await asyncio.to_thread(self._remember, image_id, relative)
            image.masked_path = relative
        try:
            return await asyncio.to_thread(self._files.read, image.masked_path)
        except FileNotFoundError as exc:
            raise HitNotFound(f"image {image_id} is no longer kept", field="image") from exc

    def _remember(self, image_id: str, relative: str) -> None:
        with transaction(self._sessions) as session:
            row = session.get(CapturedImage, image_id)
            if row is not None:
                row.masked_path = relative

    async def for_review(self, image_id: str, keep: list[int]) -> bytes:
        """The image with every face but the one at `keep` (left, top, right, bottom) mosaicked."""
        image = await asyncio.to_thread(self._row, image_id)
        relative = str(PurePosixPath(image.path).with_suffix(f".review-{'-'.join(map(str, keep))}.jpg"))
        target = self._files.path(relative)
        if not target.exists():
            await self._pool.run(
                write_masked, str(self._files.path(image.path)), str(target), self._faces(image), keep
            )
        return await asyncio.to_thread(self._files.read, relative)


__all__ = ["ShownImages"]
