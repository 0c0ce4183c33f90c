"""The Chinese font for PDFs: runs of text set in the Noto Sans SC chunk that holds them, each
chunk converted from the console's woff2 once, under a name that says what it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from safecity.web.api.workbench import FONT_DIR
from safecity.workbench import cjkfont
from safecity.workbench.cjkfont import CjkFont, FontMissing

_FONT_TAG = re.compile(r'<font name="(NotoSansSC-(Regular|Bold)-\d+-[0-9a-f]{8})">([^<]*)</font>')


def test_latin_text_is_escaped_and_left_to_helvetica(tmp_path: Path) -> None:
    font = CjkFont(FONT_DIR, tmp_path)
    assert font.markup('plate:"A<B" & C – 5 m²\nnext') == 'plate:"A&lt;B" &amp; C – 5 m²<br/>next'
    assert not list(tmp_path.iterdir())  # nothing converted for text Helvetica can set


def test_chinese_runs_are_set_in_the_chunk_holding_them_and_the_chunks_kept_as_truetype(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a new process: no chunk registered with ReportLab yet (an earlier test may have).
    monkeypatch.setattr(cjkfont, "_registered", {})
    font = CjkFont(FONT_DIR, tmp_path / "cache")
    text = "嫌疑人 <浙C12345>，凌晨两点"
    shown = font.markup(text)
    runs = _FONT_TAG.findall(shown)
    assert runs and {weight for _, weight, _ in runs} == {"Regular"}
    # Taking the tags out gives back the escaped text, in order.
    assert _FONT_TAG.sub(lambda m: m.group(3), shown) == "嫌疑人 &lt;浙C12345&gt;，凌晨两点"
    assert {w for _, w, _ in _FONT_TAG.findall(font.markup("案卷", bold=True))} == {"Bold"}

    # Converted chunks are kept (by the source's digest) for later processes, named for the PDF.
    kept = sorted((tmp_path / "cache").glob("noto-sans-sc-*-400-normal-*.ttf"))
    assert kept
    with TTFont(kept[0]) as converted:
        assert converted.sfntVersion == "\x00\x01\x00\x00" and "glyf" in converted
        assert re.fullmatch(r"NotoSansSC-Regular-\d+", converted["name"].getDebugName(6))


def test_a_missing_font_is_refused_saying_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(FontMissing, match="make assets"):
        CjkFont(tmp_path / "nothing", tmp_path / "cache").require()
    CjkFont(FONT_DIR, tmp_path / "cache").require()
