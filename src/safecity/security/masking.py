"""Masked display of identity and phone numbers for roles that do not need them in full."""

from __future__ import annotations


def mask_id_number(value: str | None) -> str | None:
    """330302********1234: enough to tell people apart at a glance, not enough to identify."""
    if value is None:
        return None
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_phone(value: str | None) -> str | None:
    """138****5678."""
    if value is None:
        return None
    return value[:3] + "*" * (len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)
