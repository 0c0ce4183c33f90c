"""Lines of the case file: Chinese broken between characters but not before a closing mark,
other text at spaces, long ids where they must be; nothing added, dropped or moved but spaces."""

from __future__ import annotations

import re

from hypothesis import assume, given
from hypothesis import strategies as st

from safecity.workbench.linebreak import CLOSING, OPENING, break_lines


def _width(text: str) -> float:
    """Half a unit a Latin character, one a Chinese one (roughly as Helvetica and Noto Sans SC)."""
    return sum(0.5 if ord(c) < 0x2000 else 1.0 for c in text)


def test_chinese_breaks_between_characters_and_keeps_a_plate_whole() -> None:
    lines = break_lines("嫌疑人手机在三家店都出现过，与浙C7M2K9同行四次。", 6, _width)
    assert lines == ["嫌疑人手机在", "三家店都出现", "过，与", "浙C7M2K9同行", "四次。"]


def test_no_line_starts_with_a_closing_mark_or_ends_with_an_opening_one() -> None:
    assert break_lines("中中中中中，中（中中）中", 5, _width) == ["中中中中", "中，中（中", "中）中"]


def test_other_text_breaks_at_spaces_and_a_long_id_where_it_must() -> None:
    assert break_lines("the quick brown fox jumps", 6, _width) == ["the quick", "brown fox", "jumps"]
    assert break_lines("phone:9f3c2a71e04b6d589f3c2a71 x", 6, _width) == [
        "phone:9f3c2a",
        "71e04b6d589f",
        "3c2a71 x",
    ]


def test_the_texts_own_lines_are_kept_blank_ones_too() -> None:
    assert break_lines("a\n\n  b", 5, _width) == ["a", "", "  b"]
    assert break_lines("", 5, _width) == [""]


_TEXT = st.text(
    alphabet=st.sampled_from([*"中文案卷店门", *"，。）（“”", *"abcXYZ019-:", " ", "\n"]), max_size=200
)


@given(text=_TEXT, room=st.floats(min_value=3, max_value=30))
def test_lines_hold_the_text_and_fit_unless_a_mark_makes_one_go_over(text: str, room: float) -> None:
    lines = break_lines(text, room, _width)
    assert len(lines) >= text.count("\n") + 1
    # Nothing but spaces is added or dropped, and nothing moves.
    assert re.sub(r"[ \n]", "", "".join(lines)) == re.sub(r"[ \n]", "", text)
    for line in lines:
        # A line is too wide only when keeping punctuation with its neighbour made it so.
        assert _width(line) <= room or set(line) & (CLOSING | OPENING), line


@given(text=_TEXT, room=st.floats(min_value=6, max_value=30))
def test_a_closing_mark_starts_no_line_but_one_that_starts_a_paragraph(text: str, room: float) -> None:
    # (Marks side by side with no room for them together are broken all the same.)
    assume(not re.search("[，。）“”（][ ]*[，。）“”（]", text))
    for paragraph in text.split("\n"):
        for line in break_lines(paragraph, room, _width)[1:]:
            assert not line or line[0] not in CLOSING, (paragraph, line)
