"""Identifier validation: GB 11643 check digits, GA 36 plates, and scalar/vectorised agreement."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from safecity.core.ids import (
    SUBJECT_PATTERNS,
    id_number_check_char,
    is_valid_id_number,
    is_valid_plate,
    is_valid_subject,
    normalise_plate,
    subject_valid_expr,
)
from safecity.core.kinds import SubjectKind

# The worked example printed in GB 11643-1999 itself.
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_is_valid() -> None:
    assert is_valid_id_number(STANDARD_EXAMPLE)


def test_wrong_check_digit_is_refused() -> None:
    assert not is_valid_id_number(STANDARD_EXAMPLE[:17] + "1")


def test_impossible_birth_date_is_refused() -> None:
    body = "33030219990230123"  # 30 February
    assert not is_valid_id_number(body + id_number_check_char(body))


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    area = draw(st.integers(110000, 659999))
    year = draw(st.integers(1900, 2025))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    seq = draw(st.integers(0, 999))
    body = f"{area}{year:04d}{month:02d}{day:02d}{seq:03d}"
    return body + id_number_check_char(body)


@given(id_numbers())
def test_any_number_with_its_check_digit_is_valid(number: str) -> None:
    assert is_valid_id_number(number)


@given(id_numbers(), st.integers(0, 16), st.integers(1, 9))
def test_changing_one_digit_is_always_detected(number: str, pos: int, delta: int) -> None:
    altered = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert not is_valid_id_number(altered)


@given(st.lists(st.one_of(id_numbers(), st.text(max_size=20)), max_size=30))
def test_vectorised_id_check_agrees_with_scalar(values: list[str]) -> None:
    got = (
        pl.Series(values, dtype=pl.String)
        .to_frame("s")
        .select(subject_valid_expr(SubjectKind.ID_CARD, pl.col("s")))["s"]
        .to_list()
    )
    assert got == [is_valid_id_number(v) for v in values]


def test_plates_ordinary_new_energy_and_special() -> None:
    for plate in ("浙C12345", "浙CD12345", "浙C12345D", "粤BF0236", "浙C1234警", "京A1234学", "沪AB123C"):
        assert is_valid_plate(plate), plate
    for plate in ("浙I12345", "XX12345", "浙C1234", "浙C123456", "浙CO1234", "浙C12345X7", ""):
        assert not is_valid_plate(plate), plate


def test_military_and_armed_police_plates_are_plates_too() -> None:
    for plate in ("VA12345", "KJ00001", "WJ浙1234消", "WJ粤12340", "WJ12345"):
        assert is_valid_plate(plate), plate
    for plate in ("XA12345", "VA1234", "WJ浙123消", "WJ浙1234X", "WJ1234"):
        assert not is_valid_plate(plate), plate
    values = ["VA12345", "WJ浙1234消", "XA12345", "浙C12345"]
    got = pl.Series(values).str.contains(SUBJECT_PATTERNS[SubjectKind.PLATE]).to_list()
    assert got == [is_valid_plate(v) for v in values]


def test_plate_normalisation_strips_separators() -> None:
    assert normalise_plate("浙c·12345") == "浙C12345"
    assert normalise_plate("浙C 12345") == "浙C12345"


@given(st.lists(st.text(alphabet="0123456789ABCDEFabcdefXYZ浙C", max_size=18), max_size=30))
def test_vectorised_subject_checks_agree_with_scalar(values: list[str]) -> None:
    frame = pl.DataFrame({"s": values}, schema={"s": pl.String})
    for kind in (SubjectKind.TAG, SubjectKind.PLATE, SubjectKind.PHONE):
        got = frame.select(subject_valid_expr(kind, pl.col("s")))["s"].to_list()
        assert got == [is_valid_subject(kind, v) for v in values], kind
