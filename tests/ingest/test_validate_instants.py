"""The validation window's bounds are millisecond literals: the same instants a datetime literal gives."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from safecity.ingest.validate import UTC_MS, _instant

INSTANTS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(INSTANTS)
def test_an_instant_is_the_millisecond_a_datetime_literal_truncates_to(at: datetime) -> None:
    assert pl.select(_instant(at)).item() == pl.select(pl.lit(at).cast(UTC_MS)).item()
