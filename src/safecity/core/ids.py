"""Identifier types and validation: GB 11643 identity numbers, GA 36 plates, tag and device ids.

Each validator exists twice: a scalar form for forms and APIs, and a Polars expression for the
ingest hot path. Tests check that the two agree.
"""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from safecity.core.kinds import SubjectKind

# GB 11643-1999 section 8.2: ISO 7064 MOD 11-2 weights and the check character table.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^[1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[0-9X]$")

# GA 36-2018: province abbreviation, issuing-authority letter (never I or O), then the serial.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"  # letters without I and O
MILITARY_FIRST = "VKHBSLJNGCQ"  # 军牌 (GJB 2010 style): the issuing service's letter, then a letter
ARMED_POLICE_SERVICES = "消边通森金警电"  # 武警 service characters that may end an armed-police plate
_PLATE_PATTERN = (
    rf"^(?:[{PROVINCES}][{_L}]("
    rf"[{_L}0-9]{{5}}"  # ordinary plate: five letters or digits
    rf"|[A-HJK][{_L}0-9][0-9]{{4}}"  # small new-energy: D/F (and A-K since 2021) first
    rf"|[0-9]{{5}}[A-HJK]"  # large new-energy: energy letter last
    rf"|[{_L}0-9]{{4}}[学警挂港澳试超]"  # coach, police, trailer, HK/Macau crossing, test
    rf")"
    rf"|[{MILITARY_FIRST}][A-Z][0-9]{{5}}"  # military: VA12345
    rf"|WJ[{PROVINCES}][0-9]{{4}}[0-9{ARMED_POLICE_SERVICES}]"  # armed police: WJ浙1234消
    rf"|WJ[0-9]{{5}}"  # armed police, headquarters units
    rf")$"
)
_PLATE_RE = re.compile(_PLATE_PATTERN)

# Subject id formats by kind. Plates and identity numbers have stricter checks below.
SUBJECT_PATTERNS: dict[SubjectKind, str] = {
    SubjectKind.TAG: r"^[0-9A-F]{8,16}$",
    SubjectKind.ID_CARD: _ID_RE.pattern,
    SubjectKind.PLATE: _PLATE_PATTERN,
    SubjectKind.FACE: r"^[A-Za-z0-9_.:-]{1,64}$",
    SubjectKind.TRACKER: r"^[A-Za-z0-9_-]{4,32}$",
    SubjectKind.UNIT: r"^[A-Za-z0-9_-]{2,32}$",
    SubjectKind.PHONE: r"^\d{11,15}$",
    SubjectKind.DEVICE: r"^[A-Za-z0-9_.:-]{1,64}$",
}
SUBJECT_FORMAT_HINTS: dict[SubjectKind, str] = {
    SubjectKind.TAG: "8 to 16 upper-case hexadecimal digits",
    SubjectKind.ID_CARD: "an 18-character GB 11643 identity number",
    SubjectKind.PLATE: "a GA 36 plate such as 浙C12345 or 浙CD12345 (or a military or armed-police plate)",
    SubjectKind.FACE: "1 to 64 of A-Z a-z 0-9 _ . : -",
    SubjectKind.TRACKER: "4 to 32 of A-Z a-z 0-9 _ -",
    SubjectKind.UNIT: "2 to 32 of A-Z a-z 0-9 _ -",
    SubjectKind.PHONE: "11 to 15 digits",
    SubjectKind.DEVICE: "1 to 64 of A-Z a-z 0-9 _ . : -",
}
DEVICE_ID_PATTERN = SUBJECT_PATTERNS[SubjectKind.DEVICE]
EVENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


def id_number_check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits of an identity number."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def is_valid_id_number(value: str) -> bool:
    """Tell whether a string is a well-formed 18-digit identity number with a valid check digit."""
    if not _ID_RE.match(value):
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return id_number_check_char(value[:17]) == value[17]


def is_valid_plate(value: str) -> bool:
    """Tell whether a string is a plate number in GA 36 format (no separator dot)."""
    return _PLATE_RE.match(value) is not None


def normalise_plate(value: str) -> str:
    """Strip the separators people type into plates ('浙C·12345', '浙C 12345') and upper-case."""
    return re.sub(r"[\s·.\-]", "", value).upper()


def is_valid_subject(kind: SubjectKind, value: str) -> bool:
    """Tell whether a subject id is well formed for its kind."""
    if kind is SubjectKind.ID_CARD:
        return is_valid_id_number(value)
    return re.match(SUBJECT_PATTERNS[kind], value) is not None


def id_number_valid_expr(col: pl.Expr) -> pl.Expr:
    """Polars form of `is_valid_id_number` (format, calendar date and check digit)."""
    digits = [col.str.slice(i, 1).cast(pl.Int32, strict=False) for i in range(17)]
    total = pl.sum_horizontal([d * w for d, w in zip(digits, _ID_WEIGHTS, strict=True)])
    check = (total % 11).replace_strict(
        list(range(11)), list(_ID_CHECK), return_dtype=pl.String, default=None
    )
    birth = col.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    return (
        col.str.contains(_ID_RE.pattern).fill_null(False)
        & birth.is_not_null()
        & (check == col.str.slice(17, 1)).fill_null(False)
    )


def subject_valid_expr(kind: SubjectKind, col: pl.Expr) -> pl.Expr:
    """Polars expression telling, row by row, whether `col` is a well-formed subject of `kind`."""
    if kind is SubjectKind.ID_CARD:
        return id_number_valid_expr(col)
    return col.str.contains(SUBJECT_PATTERNS[kind]).fill_null(False)
