"""Noto Sans SC on disk: the console's woff2 unicode-range chunks, found by character, kept as TrueType.

The console ships Noto Sans SC as Fontsource's unicode-range chunks (woff2, regular and bold,
about a hundred chunks each, copied from npm by `make assets`), so Chinese shows on machines
without Chinese fonts. Code that draws text itself (the workbench's PDFs, the simulator's plate
images) needs TrueType: this module finds the chunk holding a character and converts it once
(fontTools, brotli) into a cache folder, under a name carrying a digest of its source, so later
processes reuse it. Nothing is downloaded. It sits in `store` so every layer may use it.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont

REGULAR, BOLD = 400, 700
# Where `make assets` puts the chunks (the console serves them from there).
NOTO_SANS_SC_DIR = (
    Path(__file__).resolve().parents[1] / "web" / "static" / "vendor" / "noto-sans-sc" / "files"
)
_WEIGHT_NAMES = {REGULAR: "Regular", BOLD: "Bold"}
_CHUNK = re.compile(r"noto-sans-sc-(\d+)-(\d+)-normal\.woff2")
# PostScript name (name table id 6): Fontsource's instances all carry the variable font's default
# ("NotoSansSCThin-Regular"); each converted chunk gets its own so documents say what they embed.
_POSTSCRIPT_NAME = 6


@dataclass(frozen=True, slots=True)
class FontChunk:
    """One woff2 chunk: its file, its number in the unicode-range split and its weight."""

    path: Path
    number: int
    weight: int

    @property
    def postscript(self) -> str:
        """The PostScript name its TrueType form carries: `NotoSansSC-Regular-113`."""
        return f"NotoSansSC-{_WEIGHT_NAMES.get(self.weight, self.weight)}-{self.number}"


class FontChunks:
    """A folder of Noto Sans SC woff2 chunks, indexed by character, converted into `cache` on demand."""

    def __init__(self, source: Path, cache: Path, *, skip: Callable[[str], bool] | None = None) -> None:
        self._source = source
        self._cache = cache
        self._skip = skip  # characters the caller never asks for (left out of the index)
        self._index: dict[int, dict[int, FontChunk]] | None = None
        self._lock = threading.Lock()

    @property
    def source(self) -> Path:
        """The folder of woff2 chunks."""
        return self._source

    def files(self) -> list[Path]:
        """The chunk files, sorted (none when the folder is missing)."""
        return sorted(self._source.glob("noto-sans-sc-*-normal.woff2")) if self._source.is_dir() else []

    def weights(self) -> set[int]:
        """The weights present (400, 700)."""
        return {int(m.group(2)) for p in self.files() if (m := _CHUNK.fullmatch(p.name))}

    def find(self, char: str, weight: int) -> FontChunk | None:
        """The chunk of that weight holding the character, if any."""
        return self.index().get(weight, {}).get(ord(char))

    def index(self) -> dict[int, dict[int, FontChunk]]:
        """Which chunk of each weight holds each character (read once; the first chunk wins)."""
        if self._index is not None:
            return self._index
        with self._lock:
            if self._index is None:
                self._index = self._read_index()
        return self._index

    def _read_index(self) -> dict[int, dict[int, FontChunk]]:
        index: dict[int, dict[int, FontChunk]] = {}
        for path in self.files():
            if not (m := _CHUNK.fullmatch(path.name)):
                continue
            chunk = FontChunk(path, int(m.group(1)), int(m.group(2)))
            with TTFont(path, lazy=True) as font:
                codes = list(font.getBestCmap())
            owned = index.setdefault(chunk.weight, {})
            for code in codes:
                if self._skip is None or not self._skip(chr(code)):
                    owned.setdefault(code, chunk)
        return index

    def truetype(self, chunk: FontChunk) -> Path:
        """The chunk as TrueType in the cache, converting it unless an earlier run did."""
        digest = source_digest(chunk.path)
        target = self._cache / f"{chunk.path.name.removesuffix('.woff2')}-{digest}.ttf"
        if target.is_file():
            return target
        self._cache.mkdir(parents=True, exist_ok=True)
        with TTFont(chunk.path) as font:
            font.flavor = None
            for record in font["name"].names:
                if record.nameID == _POSTSCRIPT_NAME:
                    record.string = chunk.postscript
            # Written aside and renamed: another process may be converting the same chunk.
            partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
            font.save(partial)
        os.replace(partial, target)
        return target


def source_digest(path: Path) -> str:
    """A short digest of a chunk's bytes: converted files carry it, so a new font is never mistaken."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


__all__ = ["BOLD", "NOTO_SANS_SC_DIR", "REGULAR", "FontChunk", "FontChunks", "source_digest"]
