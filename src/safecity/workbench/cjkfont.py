"""Chinese glyphs for the workbench's PDFs: Noto Sans SC from the console's woff2 chunks, for ReportLab.

The console already ships Noto Sans SC as Fontsource's unicode-range chunks (woff2, regular and
bold, about a hundred chunks each, copied from npm by `make assets`), so Chinese shows on machines
without Chinese fonts. ReportLab embeds TrueType, not woff2: each chunk a document needs is
converted once (fontTools, brotli), kept in a cache folder under a name that carries a digest of
its source, and registered with ReportLab for the life of the process. Nothing is downloaded.

Text is set in Helvetica; each run of characters Helvetica cannot show (those outside
Windows-1252, its encoding) is set in the chunk that holds them.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from fontTools.ttLib import TTFont
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont as ReportLabFont

from safecity.core.errors import DomainError

LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
REGULAR, BOLD = 400, 700
_CHUNK = re.compile(r"noto-sans-sc-(\d+)-(\d+)-normal\.woff2")
_WEIGHT_NAMES = {REGULAR: "Regular", BOLD: "Bold"}
# PostScript name (name table id 6): Fontsource's instances all carry the variable font's default
# ("NotoSansSCThin-Regular"); each chunk gets its own so the PDF's fonts say what they are.
_POSTSCRIPT_NAME = 6

# Windows-1252 leaves five bytes undefined; the rest are the characters Helvetica can show.
LATIN_CHARS = frozenset(bytes(range(256)).decode("cp1252", errors="ignore"))

# Chunks registered with ReportLab in this process (its font registry is global), by source digest.
_registered: dict[str, str] = {}
_lock = threading.Lock()


class FontMissing(DomainError):
    """The Chinese font's chunks are not installed, so a PDF would show Chinese as empty boxes."""

    status = 503
    code = "font_missing"


@dataclass(frozen=True, slots=True)
class _Chunk:
    path: Path
    number: int
    weight: int


def is_latin(text: str) -> bool:
    """Whether Helvetica (Windows-1252) can show every character of the text."""
    return LATIN_CHARS.issuperset(text)


class CjkFont:
    """Noto Sans SC from a folder of woff2 chunks, converted into `cache` as documents need them."""

    def __init__(self, source: Path, cache: Path) -> None:
        self._source = source
        self._cache = cache
        self._index: dict[int, dict[int, _Chunk]] | None = None
        self._names: dict[Path, str] = {}

    def require(self) -> None:
        """Refuse, saying how to install it, unless the regular and bold chunks are there."""
        weights = {int(m.group(2)) for p in self._chunk_files() if (m := _CHUNK.fullmatch(p.name))}
        if not {REGULAR, BOLD} <= weights:
            raise FontMissing(
                f"the Chinese font (Noto Sans SC) is not installed in {self._source}; run `make assets`"
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
        index = self._chunks()
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

    def _chunk_files(self) -> list[Path]:
        return sorted(self._source.glob("noto-sans-sc-*-normal.woff2")) if self._source.is_dir() else []

    def _chunks(self) -> dict[int, dict[int, _Chunk]]:
        """Which chunk of each weight holds each character (Windows-1252 ones left to Helvetica)."""
        if self._index is not None:
            return self._index
        index: dict[int, dict[int, _Chunk]] = {}
        for path in self._chunk_files():
            if not (m := _CHUNK.fullmatch(path.name)):
                continue
            chunk = _Chunk(path, int(m.group(1)), int(m.group(2)))
            # Every chunk also maps a few ASCII characters (space, quotes): Helvetica sets those.
            with TTFont(path, lazy=True) as font:
                covered = [c for c in font.getBestCmap() if not is_latin(chr(c))]
            owned = index.setdefault(chunk.weight, {})
            for code in covered:
                owned.setdefault(code, chunk)
        self._index = index
        return index

    def _registered_name(self, chunk: _Chunk) -> str:
        """The ReportLab name of the chunk, converting and registering it the first time."""
        if (known := self._names.get(chunk.path)) is not None:
            return known
        digest = hashlib.sha256(chunk.path.read_bytes()).hexdigest()[:16]
        with _lock:
            name = _registered.get(digest)
            if name is None:
                postscript = f"NotoSansSC-{_WEIGHT_NAMES.get(chunk.weight, chunk.weight)}-{chunk.number}"
                ttf = self._converted(chunk, postscript, digest)
                name = f"{postscript}-{digest[:8]}"
                pdfmetrics.registerFont(ReportLabFont(name, str(ttf)))
                _registered[digest] = name
        self._names[chunk.path] = name
        return name

    def _converted(self, chunk: _Chunk, postscript: str, digest: str) -> Path:
        """The chunk as TrueType in the cache, converting it unless an earlier run did."""
        target = self._cache / f"{chunk.path.name.removesuffix('.woff2')}-{digest}.ttf"
        if target.is_file():
            return target
        self._cache.mkdir(parents=True, exist_ok=True)
        with TTFont(chunk.path) as font:
            font.flavor = None
            for record in font["name"].names:
                if record.nameID == _POSTSCRIPT_NAME:
                    record.string = postscript
            # Written aside and renamed: another process may be converting the same chunk.
            partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
            font.save(partial)
        os.replace(partial, target)
        return target


__all__ = ["BOLD", "LATIN", "LATIN_BOLD", "LATIN_CHARS", "REGULAR", "CjkFont", "FontMissing", "is_latin"]
