"""Text broken into lines of a given width, as a Chinese document sets it.

Chinese may break between any two characters, but a line does not start with closing punctuation
(，。）…) nor end with opening punctuation (（“…): the character beside it moves with it. Other
text breaks at spaces (dropped at the break), and a word longer than a whole line (an id, a
pseudonym) is cut where it must. Nothing else is added, dropped or moved.

The case file sets every line it breaks here as a paragraph of its own: ReportLab's own breaking
of Chinese, when it carries a paragraph over to the next page, adds spaces and repeats
characters, which an evidence document cannot have.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from safecity.workbench.cjkfont import LATIN_CHARS

CLOSING = frozenset("，。、；：？！）》」』】〕〉”’…—％·~～")  # never first on a line
OPENING = frozenset("（《「『【〔〈“‘")  # never last on a line
_SPACES = " \t"
# A token is a run of spaces, a run of other Latin characters (a word), or one other character
# with the word written right after it: a plate (浙C7M2K9) is not broken after its province.
_WORD = "[" + re.escape("".join(sorted(LATIN_CHARS - set(_SPACES) - set("\n\r\x0b\x0c")))) + "]"
_TOKEN = re.compile(rf"[{_SPACES}]+|{_WORD}+|.{_WORD}*", re.DOTALL)


def break_lines(text: str, room: float, width: Callable[[str], float]) -> list[str]:
    """The text's lines (its own line breaks kept) no wider than `room`, as `width` measures."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        out += _break(paragraph, room, width)
    return out


class _Lines:
    """The lines laid so far and the one being filled."""

    def __init__(self, room: float, width: Callable[[str], float]) -> None:
        self.room, self.width = room, width
        self.done: list[str] = []
        self.line: list[str] = []
        self.used = 0.0

    def fits(self, size: float) -> bool:
        return self.used + size <= self.room

    def blank(self) -> bool:
        return not "".join(self.line).strip(_SPACES)

    def add(self, token: str, size: float) -> None:
        self.line.append(token)
        self.used += size

    def flush(self) -> None:
        self.done.append("".join(self.line).rstrip(_SPACES))
        self.line, self.used = [], 0.0

    def cut(self, word: str) -> None:
        """Lay a token; one longer than a line character by character, starting lines as it must."""
        if self.fits(self.width(word)):
            self.add(word, self.width(word))
            return
        for char in word:
            size = self.width(char)
            if not self.fits(size) and self.line:
                self.flush()
            self.add(char, size)


def _carried(line: list[str]) -> tuple[list[str], list[str]]:
    """A full line's tokens: those that stay, and those that go over to the next line."""
    keep = list(line)
    while len(keep) > 1 and keep[-1].isspace():
        keep.pop()
    carry = [keep.pop()]
    while keep and (keep[-1][-1] in OPENING or carry[0][0] in CLOSING):
        carry.insert(0, keep.pop())
    return keep, carry


def _break(text: str, room: float, width: Callable[[str], float]) -> list[str]:
    laid = _Lines(room, width)
    for token in _TOKEN.findall(text):
        size = width(token)
        if token.isspace():
            if laid.fits(size):
                laid.add(token, size)
            elif laid.line:
                laid.flush()  # a break at spaces drops them
        elif laid.fits(size) or laid.blank():
            laid.cut(token)
        elif token[0] in CLOSING or laid.line[-1][-1] in OPENING:
            # Not a closing mark first on a line, nor an opening one last: what is before goes
            # over with it, unless that would leave nothing or take more than a line.
            keep, carry = _carried(laid.line)
            if "".join(keep).strip(_SPACES) and sum(map(width, [*carry, token])) <= room:
                laid.line = keep
                laid.flush()
                for t in carry:
                    laid.add(t, width(t))
                laid.add(token, size)
            else:
                laid.flush()
                laid.cut(token)
        else:
            laid.flush()
            laid.cut(token)
    if laid.line or not laid.done:
        laid.flush()
    return laid.done


__all__ = ["CLOSING", "OPENING", "break_lines"]
