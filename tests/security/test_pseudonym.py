"""Keyed pseudonyms and their key file: HMAC-SHA256, versions, the column form, never overwriting keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.security.keys import (
    KeyError_,
    PseudonymKeys,
    init_key_files,
    load_pseudonym_keys,
    save_pseudonym_keys,
)
from safecity.security.pseudonym import Pseudonymizer

KEYS = PseudonymKeys(1, {1: bytes(range(32))})
ID_NUMBER = "11010519491231002X"


def test_a_pseudonym_is_the_versioned_hmac_sha256_of_the_number() -> None:
    expected = hmac.new(bytes(range(32)), ID_NUMBER.encode(), hashlib.sha256).hexdigest()[:32]
    pseudonym = Pseudonymizer(KEYS).pseudonym(ID_NUMBER)
    assert pseudonym == f"1.{expected}"
    assert Pseudonymizer.is_pseudonym(pseudonym) and Pseudonymizer.version_of(pseudonym) == 1
    assert not Pseudonymizer.is_pseudonym(ID_NUMBER) and Pseudonymizer.version_of(ID_NUMBER) is None


@given(st.binary(min_size=1, max_size=200), st.text(max_size=40))
def test_the_precomputed_key_schedule_is_plain_hmac(key: bytes, value: str) -> None:
    got = Pseudonymizer(PseudonymKeys(3, {3: key})).pseudonym(value)
    assert got == "3." + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


@settings(max_examples=50)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from([ID_NUMBER, "13800138000", "", "x"]), st.text(max_size=20)))
)
def test_the_column_form_equals_the_scalar_form(values: list[str | None]) -> None:
    pseudonymizer = Pseudonymizer(KEYS)
    column = pseudonymizer.column(pl.Series("subject", values, dtype=pl.String))
    assert column.to_list() == [None if v is None else pseudonymizer.pseudonym(v) for v in values]
    assert column.dtype == pl.String and column.len() == len(values)


def test_a_rotation_keeps_old_versions_so_every_version_can_be_matched() -> None:
    before = Pseudonymizer(KEYS)
    rotated = KEYS.rotated()
    after = Pseudonymizer(rotated)
    assert (rotated.current, sorted(rotated.keys)) == (2, [1, 2])
    assert after.pseudonym(ID_NUMBER) != before.pseudonym(ID_NUMBER)
    assert after.all_versions(ID_NUMBER) == [before.pseudonym(ID_NUMBER), after.pseudonym(ID_NUMBER)]
    assert after.is_current(after.pseudonym(ID_NUMBER)) and not after.is_current(before.pseudonym(ID_NUMBER))


def test_the_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "pseudonym.keys"
    keys = load_pseudonym_keys(path, generate=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    save_pseudonym_keys(path, keys.rotated())
    reread = load_pseudonym_keys(path, generate=False)
    assert reread.current == 2 and reread.keys[1] == keys.keys[1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["pseudonym.keys"]  # no temporary left behind


def test_a_missing_or_broken_key_file_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.keys"
    with pytest.raises(KeyError_, match="does not exist; run `safecity keys init`"):
        load_pseudonym_keys(path, generate=False)
    path.write_text(json.dumps({"current": 2, "keys": {"1": "00" * 32}}))
    with pytest.raises(KeyError_, match="current version 2 has no key"):
        load_pseudonym_keys(path, generate=False)
    path.write_text("{not json")
    with pytest.raises(KeyError_, match="malformed"):
        load_pseudonym_keys(path, generate=False)


def test_init_creates_missing_keys_and_never_overwrites(tmp_path: Path) -> None:
    paths = {
        "token": tmp_path / "s" / "token.key",
        "pseudonym": tmp_path / "s" / "p.keys",
        "audit": tmp_path / "a.key",
    }
    first = init_key_files(**paths)
    assert [(f.what, f.created, f.is_private) for f in first] == [
        ("token signing", True, True),
        ("pseudonym", True, True),
        ("audit signing", True, True),
        ("audit public", True, False),
    ]
    contents = {f.path: f.path.read_bytes() for f in first}
    (tmp_path / "a.pub").unlink()  # the public half is derivable: recreated, the same
    again = init_key_files(**paths)
    assert [f.created for f in again] == [False, False, False, True]
    assert {f.path: f.path.read_bytes() for f in again} == contents
