"""Raw OCR text turned into a GA 36 plate: clean-up, per-position confusion fixes and format rules.

Formats accepted (the civilian ones are checked again by `core.ids.is_valid_plate`, the one
definition of a GA 36 plate the platform ingests):

* `ordinary`: blue (small car) and yellow (large vehicle) plates, 7 characters: province, the
  issuing authority's letter (never I or O), five letters or digits (浙C12345, 浙CA5T16).
* `new_energy_small`: green gradient, 8: province, letter, energy letter (D battery, F hybrid;
  A-K since 2021), a letter or digit, four digits (浙AD12345).
* `new_energy_large`: yellow-green, 8: province, letter, five digits, energy letter (浙A12345D).
* `police` (white, red 警), `coach` (yellow, 学), `trailer` (yellow, 挂), `hk_macau` (black, 港 or
  澳; 粤Z1234港) and `trial` (试 test, 超 over-size): province, letter, four letters or digits and
  the suffix character.
* `military` (white, 2012 series): two letters and five digits (KA12345); the first letter is a
  service or region (V CMC organs, K air force, H navy, B S L J N G C the former military regions,
  Q the theatre commands since 2016), the second a department.
* `armed_police` (white, red WJ, 2012 series): WJ, province, four digits and a digit or a service
  character (消 边 通 森 金 警 电) (WJ浙12345, WJ浙1234消); headquarters plates have no province
  (WJ12345). The core's ingest pattern does not take these two military formats yet.

Embassy (使) and consulate (领) plates and the double-row rear plates' layout are not read.

OCR clean-up: Unicode compatibility forms (full-width letters), separators (the plate's dot,
spaces, dashes) and case are dropped; then each position is fixed by what it can hold: a digit
slot turns O/D/Q/U into 0, I/L/T into 1, Z into 2, S into 5, G into 6, B into 8, A into 4; a
letter slot the reverse; a serial slot O into 0 and I into 1 (neither letter is ever issued).
The province position maps traditional and look-alike characters to the province (滬 沪, 渐 浙).

When the recogniser's probabilities are at hand (`parse_scored`), each position instead takes its
most probable character among those the position allows, and the format with the highest total
wins: a blurred 闽 read as 间 is still 闽 if 闽 was the second guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from safecity.core.errors import DomainError
from safecity.core.ids import ARMED_POLICE_SERVICES, MILITARY_FIRST, PROVINCES, is_valid_plate

PACKAGED = Path(__file__).with_name("plate_formats.yaml")


class PlateFormat(StrEnum):
    """The plate formats a reading can take (see the module docstring for each one's layout)."""

    ORDINARY = "ordinary"
    NEW_ENERGY_SMALL = "new_energy_small"
    NEW_ENERGY_LARGE = "new_energy_large"
    POLICE = "police"
    COACH = "coach"
    TRAILER = "trailer"
    HK_MACAU = "hk_macau"
    TRIAL = "trial"
    MILITARY = "military"
    ARMED_POLICE = "armed_police"


class PlateColour(StrEnum):
    """The plate's background colour, the first thing a detector sees."""

    BLUE = "blue"
    YELLOW = "yellow"
    GREEN = "green"
    YELLOW_GREEN = "yellow_green"
    WHITE = "white"
    BLACK = "black"


class PlateFormatError(DomainError):
    """The plate formats configuration is wrong (an unknown profile, format or prefix)."""

    code = "plate_formats_invalid"
    status = 500


class PlateUnreadable(DomainError):
    """A reading could not be made into any plate format enabled here."""

    code = "plate_unreadable"


# Colour each format's plates carry; ordinary plates are blue or yellow, which text cannot tell.
FORMAT_COLOUR: dict[PlateFormat, PlateColour] = {
    PlateFormat.ORDINARY: PlateColour.BLUE,
    PlateFormat.NEW_ENERGY_SMALL: PlateColour.GREEN,
    PlateFormat.NEW_ENERGY_LARGE: PlateColour.YELLOW_GREEN,
    PlateFormat.POLICE: PlateColour.WHITE,
    PlateFormat.COACH: PlateColour.YELLOW,
    PlateFormat.TRAILER: PlateColour.YELLOW,
    PlateFormat.HK_MACAU: PlateColour.BLACK,
    PlateFormat.TRIAL: PlateColour.WHITE,
    PlateFormat.MILITARY: PlateColour.WHITE,
    PlateFormat.ARMED_POLICE: PlateColour.WHITE,
}

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # GA 36 never issues I or O
DIGITS = "0123456789"
ENERGY = "ABCDEFGHJK"

# Position fixes (why: PP-OCR's commonest slips on plates are between round and straight glyphs).
_TO_DIGIT = {"O": "0", "D": "0", "Q": "0", "U": "0", "I": "1", "L": "1", "T": "1", "J": "1"}
_TO_DIGIT |= {"Z": "2", "S": "5", "G": "6", "B": "8", "A": "4"}
_TO_LETTER = {"0": "D", "O": "D", "8": "B", "2": "Z", "5": "S", "6": "G", "4": "A"}
_TO_SERIAL = {"O": "0", "I": "1"}
# Traditional forms and glyphs the recogniser has been seen to put for a province character.
PROVINCE_LOOKALIKES = {
    # traditional or Japanese forms
    "滬": "沪", "遼": "辽", "黒": "黑", "魯": "鲁", "蘇": "苏", "贛": "赣", "晉": "晋", "陝": "陕",
    "閩": "闽", "貴": "贵", "粵": "粤", "寧": "宁", "瓊": "琼", "雲": "云", "靑": "青",
    # the same glyph less a stroke, as blur leaves it
    "渐": "浙", "淅": "浙", "翼": "冀", "律": "津", "沖": "沪", "宇": "宁", "古": "吉", "廿": "甘",
}  # fmt: skip
_SEPARATORS = re.compile(r"[\s·•・.。,，\-_:：'\"`|/\\()（）\[\]【】]")


@dataclass(frozen=True, slots=True)
class _Slot:
    allowed: frozenset[str]
    fixes: dict[str, str]


def _slot(allowed: str, fixes: dict[str, str] | None = None) -> _Slot:
    return _Slot(frozenset(allowed), {k: v for k, v in (fixes or {}).items() if v in allowed})


_P = _slot(PROVINCES, PROVINCE_LOOKALIKES)
_L = _slot(LETTERS, _TO_LETTER)
_A = _slot(LETTERS + DIGITS, _TO_SERIAL)
_D = _slot(DIGITS, _TO_DIGIT)
_E = _slot(ENERGY, _TO_LETTER)
_ML = _slot(MILITARY_FIRST, _TO_LETTER)
_W = _slot("W")
_J = _slot("J", {"1": "J", "T": "J", "U": "J"})
_SERVICE = _slot(DIGITS + ARMED_POLICE_SERVICES, _TO_DIGIT)

_TEMPLATES: dict[PlateFormat, tuple[tuple[_Slot, ...], ...]] = {
    PlateFormat.ORDINARY: ((_P, _L, _A, _A, _A, _A, _A),),
    PlateFormat.NEW_ENERGY_SMALL: ((_P, _L, _E, _A, _D, _D, _D, _D),),
    PlateFormat.NEW_ENERGY_LARGE: ((_P, _L, _D, _D, _D, _D, _D, _E),),
    PlateFormat.POLICE: ((_P, _L, _A, _A, _A, _A, _slot("警")),),
    PlateFormat.COACH: ((_P, _L, _A, _A, _A, _A, _slot("学")),),
    PlateFormat.TRAILER: ((_P, _L, _A, _A, _A, _A, _slot("挂")),),
    PlateFormat.HK_MACAU: ((_P, _L, _A, _A, _A, _A, _slot("港澳")),),
    PlateFormat.TRIAL: ((_P, _L, _A, _A, _A, _A, _slot("试超")),),
    PlateFormat.MILITARY: ((_ML, _L, _D, _D, _D, _D, _D),),
    PlateFormat.ARMED_POLICE: ((_W, _J, _P, _D, _D, _D, _D, _SERVICE), (_W, _J, _D, _D, _D, _D, _D)),
}
# Civilian formats end in the core's GA 36 check; these two are outside it.


class PlateFormats(BaseModel):
    """Which formats a deployment reads and the prefix a reading missing its province gets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field("", description="What the profile is for")
    formats: frozenset[PlateFormat] = Field(
        frozenset(PlateFormat) - {PlateFormat.TRIAL}, description="Formats a reading may take"
    )
    default_prefix: str | None = Field(
        None, description="Province character, optionally with the city's letter, e.g. 浙A"
    )

    @field_validator("default_prefix")
    @classmethod
    def _prefix_is_a_province(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(rf"[{PROVINCES}][{LETTERS}]?", value):
            raise ValueError(f"default_prefix {value!r} is not a province character and optional letter")
        return value

    @classmethod
    def load(cls, profile: str = "cn", path: Path | None = None) -> PlateFormats:
        """One profile of the packaged file (or of `path`), refusing a wrong file by name."""
        source = path or PACKAGED
        try:
            profiles = (yaml.safe_load(source.read_text(encoding="utf-8")) or {}).get("profiles", {})
            if profile not in profiles:
                raise PlateFormatError(
                    f"plate format profile {profile!r} is not in {source}", field="profile"
                )
            return cls.model_validate(profiles[profile])
        except (OSError, yaml.YAMLError, ValidationError, AttributeError) as exc:
            raise PlateFormatError(f"plate formats file {source} is not valid: {exc}") from exc


@cache
def default_formats() -> PlateFormats:
    """The packaged `cn` profile (every format but trial plates), read once."""
    return PlateFormats.load("cn")


@dataclass(frozen=True, slots=True)
class PlateText:
    """A reading made into a plate: the plate, its format and colour, and whether it was fixed."""

    plate: str
    format: PlateFormat
    colour: PlateColour
    corrected: bool
    raw: str


def clean_text(raw: str) -> str:
    """The reading without separators, in upper case and ASCII letters (full-width ones folded)."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()


def parse_plate(
    raw: str, formats: PlateFormats | None = None, *, colour: PlateColour | None = None
) -> PlateText | None:
    """The plate a raw OCR reading most likely is, with the fewest position fixes, or None."""
    formats = formats or default_formats()
    text = clean_text(raw)
    if text.startswith("VVJ"):  # the armed police's W read as two Vs
        text = "W" + text[2:]
    best: tuple[int, int, str, PlateFormat] | None = None
    for rank, fmt in enumerate(PlateFormat):
        if fmt not in formats.formats:
            continue
        for candidate, extra in _variants(text, formats.default_prefix):
            for template in _TEMPLATES[fmt]:
                fitted = _fit(candidate, template)
                if fitted is None or not _is_valid(fitted[0], fmt):
                    continue
                cost = fitted[1] + extra
                if best is None or (cost, rank) < (best[0], best[1]):
                    best = (cost, rank, fitted[0], fmt)
    if best is None:
        return None
    cost, _, plate, fmt = best
    shown = colour if colour is not None else FORMAT_COLOUR[fmt]
    return PlateText(plate=plate, format=fmt, colour=shown, corrected=cost > 0 or plate != text, raw=raw)


def require_plate(
    raw: str, formats: PlateFormats | None = None, *, colour: PlateColour | None = None
) -> PlateText:
    """`parse_plate`, refusing a reading that fits no enabled format."""
    parsed = parse_plate(raw, formats, colour=colour)
    if parsed is None:
        raise PlateUnreadable(f"{raw!r} is not a plate in any format enabled here", field="plate")
    return parsed


class Charset:
    """The recogniser's output alphabet, with the columns each template position allows, cached."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        self._index = {c: i for i, c in enumerate(self.chars)}
        self._columns: dict[int, tuple[np.ndarray, list[str]]] = {}

    def index(self, char: str) -> int | None:
        """The column of a character, if the recogniser has it."""
        return self._index.get(char)

    def columns(self, slot: _Slot) -> tuple[np.ndarray, list[str]]:
        """The columns (and their characters) of what a template position may hold."""
        key = id(slot)  # slots are module constants: their ids are stable for the process
        if key not in self._columns:
            chars = sorted(c for c in slot.allowed if c in self._index)
            self._columns[key] = (np.array([self._index[c] for c in chars], dtype=np.intp), chars)
        return self._columns[key]


# The price, in log probability, of a character the recogniser missed or added (a tenth).
_GAP_LOG_P = float(np.log(0.1))


def parse_scored(
    segments: np.ndarray,
    charset: Charset,
    formats: PlateFormats | None = None,
    *,
    lead: np.ndarray | None = None,
    raw: str = "",
    colour: PlateColour | None = None,
) -> tuple[PlateText, tuple[float, ...]] | None:
    """The most probable plate given each read character's probabilities, with each position's.

    `segments` holds one row per character the recogniser emitted (its highest probability over
    the time steps it spans, over the whole charset); `lead`, the same over the steps before the
    first one, where a faint province character may hide. Each template of an enabled format
    whose length fits takes, position by position, the most probable character it allows.
    """
    formats = formats or default_formats()
    best: tuple[float, str, PlateFormat, tuple[float, ...]] | None = None
    prefix_row = None
    if formats.default_prefix and (column := charset.index(formats.default_prefix[0])) is not None:
        # The camera's province, for a reading with none: a one-hot row, trusted at one half.
        prefix_row = np.zeros(len(charset.chars), np.float32)
        prefix_row[column] = 0.5
    for fmt in PlateFormat:
        if fmt not in formats.formats:
            continue
        for template in _TEMPLATES[fmt]:
            for rows, penalty in _alignments(segments, lead, prefix_row, len(template), template[0] is _P):
                picked = [_pick(row, slot, charset) for row, slot in zip(rows, template, strict=True)]
                score = sum(p for _, p in picked) + penalty
                plate = "".join(c for c, _ in picked)
                if (best is None or score > best[0]) and _is_valid(plate, fmt):
                    best = (score, plate, fmt, tuple(float(np.exp(p)) for _, p in picked))
    if best is None:
        return None
    _, plate, fmt, probs = best
    text = PlateText(
        plate=plate,
        format=fmt,
        colour=colour if colour is not None else FORMAT_COLOUR[fmt],
        corrected=plate != clean_text(raw),
        raw=raw,
    )
    return text, probs


def _alignments(
    segments: np.ndarray,
    lead: np.ndarray | None,
    prefix_row: np.ndarray | None,
    length: int,
    starts_with_province: bool,
) -> Iterable[tuple[Sequence[np.ndarray], float]]:
    """The segment rows laid on a template of `length`: as read, a character dropped or one added."""
    n = len(segments)
    rows = list(segments)
    if n == length:
        yield rows, 0.0
    elif n == length + 1:  # a frame edge or a rivet read as a character at either end
        yield rows[1:], _GAP_LOG_P
        yield rows[:-1], _GAP_LOG_P
    elif n == length - 1 and starts_with_province:
        if lead is not None:
            yield [lead, *rows], _GAP_LOG_P  # the province too faint to be emitted
        if prefix_row is not None:
            yield [prefix_row, *rows], 0.0  # cropped off: the camera's own province


def _pick(row: np.ndarray, slot: _Slot, charset: Charset) -> tuple[str, float]:
    columns, chars = charset.columns(slot)
    if not len(columns):
        return "?", float(np.log(1e-6))
    values = row[columns]
    best = int(values.argmax())
    return chars[best], float(np.log(max(float(values[best]), 1e-6)))


def _variants(text: str, prefix: str | None) -> Iterable[tuple[str, int]]:
    """The cleaned text, and with the deployment's prefix where the reading lacks the province."""
    yield text, 0
    if prefix and text and text[0] not in PROVINCES and text[0] not in PROVINCE_LOOKALIKES:
        yield prefix[0] + text, 1
        if len(prefix) > 1 and text[0] != prefix[1]:
            yield prefix + text, 2
    # A frame edge or a rivet read as a character at either end: dearer than a position fix,
    # which is the commoner slip.
    if len(text) >= 8:
        yield text[1:], 2
        yield text[:-1], 2


def _fit(text: str, template: tuple[_Slot, ...]) -> tuple[str, int] | None:
    """The text fitted to the template position by position, with its number of fixes, or None."""
    if len(text) != len(template):
        return None
    out: list[str] = []
    fixes = 0
    for char, slot in zip(text, template, strict=True):
        if char in slot.allowed:
            out.append(char)
        elif (fixed := slot.fixes.get(char)) is not None:
            out.append(fixed)
            fixes += 1
        else:
            return None
    return "".join(out), fixes


def _is_valid(plate: str, fmt: PlateFormat) -> bool:
    # core.ids knows the military and armed-police formats too: ingest accepts what is read here.
    del fmt
    return is_valid_plate(plate)


__all__ = [
    "FORMAT_COLOUR",
    "PROVINCE_LOOKALIKES",
    "Charset",
    "PlateColour",
    "PlateFormat",
    "PlateFormatError",
    "PlateFormats",
    "PlateText",
    "PlateUnreadable",
    "clean_text",
    "default_formats",
    "parse_plate",
    "parse_scored",
    "require_plate",
]
