"""Raw OCR text made into GA 36 (and military) plates: clean-up, position fixes, format profiles."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safecity.core.ids import PROVINCES, is_valid_plate
from safecity.recognition.plate_format import (
    LETTERS,
    PlateColour,
    PlateFormat,
    PlateFormatError,
    PlateFormats,
    PlateUnreadable,
    parse_plate,
    require_plate,
)


@pytest.mark.parametrize(
    ("raw", "plate", "fmt"),
    [
        ("浙C·12345", "浙C12345", PlateFormat.ORDINARY),
        ("浙AD12345", "浙AD12345", PlateFormat.NEW_ENERGY_SMALL),
        ("浙A12345D", "浙A12345D", PlateFormat.NEW_ENERGY_LARGE),
        ("浙A1234警", "浙A1234警", PlateFormat.POLICE),
        ("浙A123B学", "浙A123B学", PlateFormat.COACH),
        ("浙A1234挂", "浙A1234挂", PlateFormat.TRAILER),
        ("粤Z1234港", "粤Z1234港", PlateFormat.HK_MACAU),
        ("粤Z·1234澳", "粤Z1234澳", PlateFormat.HK_MACAU),
        ("KA·12345", "KA12345", PlateFormat.MILITARY),
        ("WJ浙12345", "WJ浙12345", PlateFormat.ARMED_POLICE),
        ("WJ浙1234消", "WJ浙1234消", PlateFormat.ARMED_POLICE),
        ("WJ·12345", "WJ12345", PlateFormat.ARMED_POLICE),
    ],
)
def test_each_format_is_recognised(raw: str, plate: str, fmt: PlateFormat) -> None:
    parsed = require_plate(raw)
    assert (parsed.plate, parsed.format, parsed.corrected) == (plate, fmt, False)


@pytest.mark.parametrize(
    ("raw", "plate", "corrected"),
    [
        ("浙c 12345", "浙C12345", False),  # lower case and a space are clean-up, not fixes
        ("浙Ｃ１２３４５", "浙C12345", False),  # full-width forms
        ("浙AO1234", "浙A01234", True),  # O is never issued: a zero
        ("浙A I2345", "浙A12345", True),  # nor I: a one
        ("浙0A1234", "浙DA1234", True),  # the authority letter cannot be a digit
        ("浙AD1234S", "浙AD12345", True),  # new-energy: the last four are digits
        ("渐C12345", "浙C12345", True),  # a province character less a stroke
        ("滬A12345", "沪A12345", True),  # a traditional form
    ],
)
def test_ocr_slips_are_fixed_by_position(raw: str, plate: str, corrected: bool) -> None:
    parsed = require_plate(raw)
    assert (parsed.plate, parsed.corrected) == (plate, corrected)


def test_colour_follows_the_format_or_the_detector() -> None:
    assert require_plate("浙AD12345").colour is PlateColour.GREEN
    assert require_plate("浙A1234警").colour is PlateColour.WHITE
    assert require_plate("浙C12345", colour=PlateColour.YELLOW).colour is PlateColour.YELLOW


def test_a_reading_missing_its_province_takes_the_cameras_prefix() -> None:
    hangzhou = PlateFormats.load("hangzhou")
    assert parse_plate("A12345") is None
    assert require_plate("A12345", hangzhou).plate == "浙A12345"
    assert require_plate("A12345", hangzhou).corrected
    assert require_plate("12345", hangzhou).plate == "浙A12345"


def test_a_profile_reads_only_its_formats() -> None:
    civilian = PlateFormats.load("cn_civilian")
    assert parse_plate("WJ浙12345", civilian) is None
    assert parse_plate("浙A1234警", civilian) is None
    assert PlateFormats.load("cn").formats >= {PlateFormat.MILITARY, PlateFormat.ARMED_POLICE}


@pytest.mark.parametrize("raw", ["", "hello", "浙", "12345678901", "浙A123", "IOIOIOI"])
def test_what_is_no_plate_is_refused(raw: str) -> None:
    assert parse_plate(raw) is None
    with pytest.raises(PlateUnreadable, match="not a plate"):
        require_plate(raw)


def test_a_wrong_profile_or_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(PlateFormatError, match="nowhere"):
        PlateFormats.load("nowhere")
    bad = tmp_path / "formats.yaml"
    bad.write_text("profiles:\n  x:\n    formats: [ordinary]\n    default_prefix: XX\n", encoding="utf-8")
    with pytest.raises(PlateFormatError, match="default_prefix"):
        PlateFormats.load("x", bad)
    bad.write_text("profiles:\n  x:\n    formats: [spaceship]\n", encoding="utf-8")
    with pytest.raises(PlateFormatError, match="spaceship"):
        PlateFormats.load("x", bad)


_SERIAL = st.text(alphabet=LETTERS + "0123456789", min_size=5, max_size=5)


@given(st.sampled_from(PROVINCES), st.sampled_from(LETTERS), _SERIAL)
def test_every_valid_ordinary_plate_reads_as_itself(province: str, letter: str, serial: str) -> None:
    plate = province + letter + serial
    assert is_valid_plate(plate)
    parsed = require_plate(f"{plate[:2]}·{plate[2:]}")
    assert parsed.plate == plate and not parsed.corrected


@given(st.text(max_size=12))
def test_whatever_is_returned_is_a_valid_plate(raw: str) -> None:
    parsed = parse_plate(raw)
    if parsed is not None and parsed.format not in (PlateFormat.MILITARY, PlateFormat.ARMED_POLICE):
        assert is_valid_plate(parsed.plate)
