"""Masking of identifiers for whoever should not see them in full: the one function that does it.

Every mask keeps a few characters at each end and stars the middle; a value too short to keep
anything is starred whole, and a missing value stays missing (callers choose how to show it).
"""

from __future__ import annotations

from typing import overload


@overload
def mask(value: str, *, head: int, tail: int) -> str: ...
@overload
def mask(value: None, *, head: int, tail: int) -> None: ...
def mask(value: str | None, *, head: int, tail: int) -> str | None:
    """Keep `head` and `tail` characters and star the rest; star all of a value not longer than both."""
    if value is None:
        return None
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id_number(value: str | None) -> str | None:
    """330302********1234: enough to tell people apart at a glance, not enough to identify."""
    return mask(value, head=6, tail=4)


def mask_phone(value: str | None) -> str | None:
    """138****5678."""
    return mask(value, head=3, tail=4)


def mask_subject(value: str) -> str:
    """A personal subject id leaving the console: the first and last two characters as a hint."""
    return mask(value, head=2, tail=2)
