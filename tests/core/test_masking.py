"""Masking: one function, the same handling of short and missing values everywhere."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safecity.core.masking import mask, mask_id_number, mask_phone, mask_subject


@given(st.text(alphabet="0123456789", min_size=8, max_size=15))
def test_masked_phone_keeps_length_and_only_the_ends(phone: str) -> None:
    masked = mask_phone(phone)
    assert masked is not None
    assert len(masked) == len(phone)
    assert masked[:3] == phone[:3]
    assert masked[-4:] == phone[-4:]
    assert set(masked[3:-4]) <= {"*"}


def test_missing_values_stay_missing_and_short_values_are_starred_whole() -> None:
    assert mask_phone(None) is None
    assert mask_id_number(None) is None
    assert mask_phone("1234567") == "*******"
    assert mask_subject("ABCD") == "****"
    assert mask_id_number("330302199001011234") == "330302********1234"


@given(st.text(max_size=40), st.integers(0, 6), st.integers(0, 6))
def test_a_mask_never_changes_the_length_and_keeps_only_the_ends(value: str, head: int, tail: int) -> None:
    masked = mask(value, head=head, tail=tail)
    assert len(masked) == len(value)
    if len(value) > head + tail:
        assert masked[:head] == value[:head]
        assert masked[len(value) - tail :] == value[len(value) - tail :]
        assert set(masked[head : len(value) - tail]) <= {"*"}
    else:
        assert set(masked) <= {"*"}
