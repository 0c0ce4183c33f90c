"""Door whitelists as a controller holds them: entries, the list's hash, full lists and deltas.

This module is the wire contract between the platform and a door controller (docs/doors.md);
the platform (places/doors.py) and the simulator (sim/door_controller.py) both speak it.

What a controller stores is not the card number but `key = HMAC-SHA256(salt, number)` cut to
128 bits, under a salt of its own door: the controller hashes the number it reads and looks the
key up, so a stolen controller gives away no numbers and its keys match no other door's. A
visitor's entry carries its validity (epoch seconds), which the controller checks itself, so a
pass expires on time even while the door is offline.

A list has a version (one more per change) and a digest: sha256 over its entries as sorted
lines `key:valid_from:valid_until`. A delta names the version it applies to (`base`), the
version and digest it makes, the entries it sets and the keys it takes off. A controller
applies a delta only to the list of its base version, checks the resulting digest and only
then switches to it; anything else (a gap, a digest that does not match) makes it take the full
list. Every function here is pure.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence

import msgspec

KEY_HEX = 32  # 128 bits of HMAC-SHA256: no collisions among a door's few thousand cards
SALT_BYTES = 16


class Entry(msgspec.Struct, array_like=True, frozen=True, order=True):
    """One card a door lets in: its keyed hash and, for a visitor, when (epoch seconds, UTC)."""

    key: str
    valid_from: int | None = None
    valid_until: int | None = None

    def line(self) -> str:
        """The entry as the digest reads it."""
        return f"{self.key}:{'' if self.valid_from is None else self.valid_from}:" + (
            "" if self.valid_until is None else str(self.valid_until)
        )

    def admits(self, at_s: int) -> bool:
        """Whether the entry is valid at this instant (epoch seconds)."""
        if self.valid_from is not None and at_s < self.valid_from:
            return False
        return self.valid_until is None or at_s < self.valid_until


class FullList(msgspec.Struct, tag_field="type", tag="whitelist", frozen=True):
    """A door's whole list at one version (MQTT: retained on `.../whitelist`)."""

    door: str
    version: int
    digest: str
    salt: str  # hex; the controller hashes the numbers it reads with it
    entries: list[Entry]


class Delta(msgspec.Struct, tag_field="type", tag="whitelist_delta", frozen=True):
    """From version `base` to `version`: entries set (new or changed) and keys taken off."""

    door: str
    base: int
    version: int
    digest: str
    added: list[Entry]
    removed: list[str]

    @property
    def in_step(self) -> bool:
        """The controller already holds the newest version (a poll's answer when nothing changed)."""
        return self.base == self.version


Message = FullList | Delta
MESSAGE_DECODER = msgspec.json.Decoder(Message)
ENCODER = msgspec.json.Encoder()


def card_key(salt: bytes, id_number: str) -> str:
    """The keyed hash a door with this salt stores for a card number (as read: upper case X)."""
    mac = hmac.new(salt, id_number.strip().upper().encode("ascii"), hashlib.sha256)
    return mac.hexdigest()[:KEY_HEX]


def card_keys(salt: bytes, id_numbers: Iterable[str]) -> list[str]:
    """`card_key` of many numbers under one salt (the keyed state is made once, then copied)."""
    base = hmac.new(salt, digestmod=hashlib.sha256)
    keys = []
    for number in id_numbers:
        mac = base.copy()
        mac.update(number.strip().upper().encode("ascii"))
        keys.append(mac.hexdigest()[:KEY_HEX])
    return keys


def digest(entries: Iterable[Entry]) -> str:
    """sha256 over the entries as sorted lines: the same list gives the same digest anywhere."""
    lines = sorted(e.line() for e in entries)
    return hashlib.sha256("\n".join(lines).encode("ascii")).hexdigest()


def merged(windows: Iterable[tuple[int | None, int | None]]) -> tuple[int | None, int | None]:
    """One card let in on several grounds: unbounded if any ground is, else the widest window."""
    froms, untils, unbounded = [], [], False
    for start, end in windows:
        if start is None and end is None:
            unbounded = True
        froms.append(start)
        untils.append(end)
    if unbounded:
        return None, None
    start = None if any(f is None for f in froms) else min(f for f in froms if f is not None)
    end = None if any(u is None for u in untils) else max(u for u in untils if u is not None)
    return start, end


def diff(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> tuple[list[Entry], list[str]]:
    """The entries to set and the keys to take off, to turn `old` into `new` (both by key)."""
    added = sorted(e for k, e in new.items() if old.get(k) != e)
    removed = sorted(k for k in old if k not in new)
    return added, removed


def apply(entries: Mapping[str, Entry], added: Sequence[Entry], removed: Sequence[str]) -> dict[str, Entry]:
    """A new list: `removed` taken off, then `added` set (the old mapping is left as it was)."""
    out = {k: e for k, e in entries.items() if k not in set(removed)}
    out.update((e.key, e) for e in added)
    return out


def compose(deltas: Sequence[Delta]) -> Delta:
    """One delta doing what consecutive deltas do, in order (the last change of a key wins)."""
    if not deltas:
        raise ValueError("compose needs at least one delta")
    setting: dict[str, Entry] = {}
    taking_off: set[str] = set()
    for delta in deltas:
        for key in delta.removed:
            setting.pop(key, None)
            taking_off.add(key)
        for entry in delta.added:
            setting[entry.key] = entry
            taking_off.discard(entry.key)
    first, last = deltas[0], deltas[-1]
    return Delta(
        door=last.door,
        base=first.base,
        version=last.version,
        digest=last.digest,
        added=sorted(setting.values()),
        removed=sorted(taking_off),
    )


def by_key(entries: Iterable[Entry]) -> dict[str, Entry]:
    """Entries by their key."""
    return {e.key: e for e in entries}


__all__ = [
    "ENCODER",
    "KEY_HEX",
    "MESSAGE_DECODER",
    "SALT_BYTES",
    "Delta",
    "Entry",
    "FullList",
    "Message",
    "apply",
    "by_key",
    "card_key",
    "card_keys",
    "compose",
    "diff",
    "digest",
    "merged",
]
