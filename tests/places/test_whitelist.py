"""The whitelist contract's pure functions: digests, diffs, deltas composed, keyed card hashes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safecity.places.whitelist import (
    ENCODER,
    MESSAGE_DECODER,
    Delta,
    Entry,
    FullList,
    apply,
    card_key,
    card_keys,
    compose,
    diff,
    digest,
    merged,
)

keys = st.sampled_from([f"{n:032x}" for n in range(12)])
windows = st.one_of(
    st.just((None, None)),
    st.tuples(st.integers(0, 100), st.integers(101, 200)),
    st.tuples(st.integers(0, 100), st.none()),
)
lists = st.dictionaries(keys, windows, max_size=10).map(
    lambda d: {k: Entry(k, f, u) for k, (f, u) in d.items()}
)


@given(lists, lists)
def test_a_diff_applied_turns_one_list_into_the_other(old: dict[str, Entry], new: dict[str, Entry]) -> None:
    added, removed = diff(old, new)
    assert apply(old, added, removed) == new
    assert digest(apply(old, added, removed).values()) == digest(new.values())


@given(st.lists(lists, min_size=2, max_size=6))
def test_composed_deltas_do_what_the_deltas_do_one_after_another(states: list[dict[str, Entry]]) -> None:
    deltas = []
    for version, (old, new) in enumerate(zip(states, states[1:], strict=False), 1):
        added, removed = diff(old, new)
        deltas.append(Delta("D", version - 1, version, digest(new.values()), added, removed))
    one = compose(deltas)
    assert (one.base, one.version, one.digest) == (0, len(deltas), digest(states[-1].values()))
    assert apply(states[0], one.added, one.removed) == states[-1]


def test_the_digest_ignores_order_and_sees_a_changed_validity() -> None:
    a, b = Entry("a" * 32), Entry("b" * 32, 10, 20)
    assert digest([a, b]) == digest([b, a])
    assert digest([a, b]) != digest([a, Entry("b" * 32, 10, 21)])


def test_a_card_s_key_depends_on_the_door_s_salt_and_not_on_the_case_of_x() -> None:
    number = "11010519491231002X"
    assert card_key(b"salt-1", number) == card_key(b"salt-1", number.lower())
    assert card_key(b"salt-1", number) != card_key(b"salt-2", number)
    assert len(card_key(b"salt-1", number)) == 32
    assert number not in card_key(b"salt-1", number)


def test_a_card_let_in_on_several_grounds_gets_the_widest() -> None:
    assert merged([(10, 20), (None, None)]) == (None, None)
    assert merged([(10, 20), (5, 15)]) == (5, 20)
    assert merged([(10, 20), (30, None)]) == (10, None)


def test_messages_round_trip_by_their_type_tag() -> None:
    full = FullList("D", 3, digest([]), "00" * 16, [])
    delta = Delta("D", 2, 3, digest([]), [Entry("a" * 32, 1, 2)], ["b" * 32])
    assert MESSAGE_DECODER.decode(ENCODER.encode(full)) == full
    assert MESSAGE_DECODER.decode(ENCODER.encode(delta)) == delta
    assert b'"type":"whitelist_delta"' in ENCODER.encode(delta)


def test_many_keys_at_once_are_the_same_keys() -> None:
    numbers = ["11010519491231002X", "330302199003071231", "11010519491231002x"]
    assert card_keys(b"salt", numbers) == [card_key(b"salt", n) for n in numbers]
