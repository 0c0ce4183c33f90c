"""Chinese glyphs for the workbench's PDFs: Noto Sans SC from the console's woff2 chunks, for ReportLab.

The console already ships Noto Sans SC as Fontsource's unicode-range chunks (woff2, regular and
bold), so Chinese shows on machines without Chinese fonts. ReportLab embeds TrueType, not woff2:
each chunk a document needs is converted once by `store.fonts` (kept in a cache folder under a
name that carries a digest of its source) and registered with ReportLab for the life of the
process. Nothing is downloaded.

Text is set in Helvetica; each run of characters Helvetica cannot show (those outside
Windows-1252, its encoding) is set in the chunk that holds them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont as ReportLabFont

from safecity.core.errors import DomainError
from safecity.store.fonts import BOLD, REGULAR, FontChunk, FontChunks, source_digest

LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"

# Windows-1252 leaves five bytes undefined; the rest are the characters Helvetica can show.
LATIN_CHARS = frozenset(bytes(range(256)).decode("cp1252", errors="ignore"))

# Chunks registered with ReportLab in this process (its font registry is global), by source digest.
_registered: dict[str, str] = {}
_lock = threading.Lock()


class FontMissing(DomainError):
    """The Chinese font's chunks are not installed, so a PDF would show Chinese as empty boxes."""

    status = 503
    code = "font_missing"


def is_latin(text: str) -> bool:
    """Whether Helvetica (Windows-1252) can show every character of the text."""
    return LATIN_CHARS.issuperset(text)


class CjkFont:
    """Noto Sans SC from a folder of woff2 chunks, converted into `cache` as documents need them."""

    def __init__(self, source: Path, cache: Path) -> None:
        # Every chunk also maps a few ASCII characters (space, quotes): Helvetica sets those.
        self._chunks = FontChunks(source, cache, skip=is_latin)
        self._names: dict[Path, str] = {}

    def require(self) -> None:
        """Refuse, saying how to install it, unless the regular and bold chunks are there."""
        if not {REGULAR, BOLD} <= self._chunks.weights():
            where = self._chunks.source
            raise FontMissing(
                f"the Chinese font (Noto Sans SC) is not installed in {where}; run `make assets`"
            )

    def markup(self, text: str, *, bold: bool = False) -> str:
        """ReportLab paragraph markup of plain text: escaped, lines kept, Chinese runs in the font."""
        parts: list[str] = []
        for font, run in self._runs(text, BOLD if bold else REGULAR):
            shown = escape(run).replace("\n", "<br/>")
            parts.append(shown if font is None else f'<font name="{font}">{shown}</font>')
        return "".join(parts)

    def width(self, text: str, size: float, *, bold: bool = False) -> float:
        """How wide the text is set at `size` points, each run in its font."""
        latin = LATIN_BOLD if bold else LATIN
        return sum(
            stringWidth(run, font or latin, size) for font, run in self._runs(text, BOLD if bold else REGULAR)
        )

    def _runs(self, text: str, weight: int) -> Iterator[tuple[str | None, str]]:
        """The text cut into runs of one font each (None: the paragraph's Helvetica)."""
        if is_latin(text):  # most cells (ids, times, numbers) need no Chinese font
            yield None, text
            return
        index = self._chunks.index()
        start, current = 0, None
        for i, char in enumerate(text):
            font: str | None = None
            if not is_latin(char):
                chunk = index.get(weight, {}).get(ord(char)) or index.get(REGULAR, {}).get(ord(char))
                font = self._registered_name(chunk) if chunk is not None else None
            if i and font != current:
                yield current, text[start:i]
                start = i
            current = font
        if text:
            yield current, text[start:]

    def _registered_name(self, chunk: FontChunk) -> str:
        """The ReportLab name of the chunk, converting and registering it the first time."""
        if (known := self._names.get(chunk.path)) is not None:
            return known
        digest = source_digest(chunk.path)
        with _lock:
            name = _registered.get(digest)
            if name is None:
                ttf = self._chunks.truetype(chunk)
                name = f"{chunk.postscript}-{digest[:8]}"
                pdfmetrics.registerFont(ReportLabFont(name, str(ttf)))
                _registered[digest] = name
        self._names[chunk.path] = name
        return name


__all__ = ["BOLD", "LATIN", "LATIN_BOLD", "LATIN_CHARS", "REGULAR", "CjkFont", "FontMissing", "is_latin"]
