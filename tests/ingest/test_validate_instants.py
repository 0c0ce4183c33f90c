"""The validation window's bounds are millisecond literals: the same instants a datetime literal gives."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from safecity.ingest.validate import _EPOCH_MS, UTC_MS, _all_epoch_ms, _instant

INSTANTS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(INSTANTS)
def test_an_instant_is_the_millisecond_a_datetime_literal_truncates_to(at: datetime) -> None:
    assert pl.select(_instant(at)).item() == pl.select(pl.lit(at).cast(UTC_MS)).item()


@given(
    st.lists(
        st.one_of(
            st.integers(0, 10**15).map(str),
            st.integers(10**9 - 5, 10**9 + 5).map(str),
            st.integers(10**14 - 5, 10**14 + 5).map(str),
            st.from_regex(r"[+ -]?0*[0-9]{9,15}", fullmatch=True),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_epoch_milliseconds_are_recognised_exactly_as_the_pattern_says(texts: list[str]) -> None:
    found = _all_epoch_ms(pl.Series(texts, dtype=pl.String))
    if all(re.match(_EPOCH_MS, t) and not t.startswith("0") for t in texts):
        assert found is not None and found.to_list() == [int(t) for t in texts]
    elif not all(re.match(_EPOCH_MS, t) for t in texts):
        assert found is None  # a text the pattern refuses never passes as epoch milliseconds
    # (Leading zeros may go either way: the slower path reads them as the pattern says.)
