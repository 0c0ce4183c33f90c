"""Typed events: what crosses the bus and between packages, each with the `Context` that caused it.

An event type is a msgspec struct deriving from `Event`; it is tagged on the wire by its class
name (`{"type": "RegistryChanged", ...}`), so every backbone encodes and decodes it the same way
and a consumer matches on the type, not on dict keys. Each package defines the events it
announces next to the data they are about (the registry's `RegistryChanged`, say); defining a
subclass registers it, and `decode` knows every type defined so far.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from safecity.core.context import Context

EVENT_JSON = "application/vnd.safecity.event+json"  # the content type of an encoded event


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True):
    """Base of every typed event: the context says who or what caused it."""

    context: Context | None = None

    topic: ClassVar[str] = "events"  # the bus topic it travels on; a subclass names its own
    types: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Event.types[cls.__name__] = cls
        _decoder.clear()  # the next decode knows the new type


_encoder = msgspec.json.Encoder()
_decoder: list[msgspec.json.Decoder[Any]] = []  # one decoder of every type defined so far, built on use


def encode(event: Event) -> bytes:
    """An event as tagged JSON."""
    return _encoder.encode(event)


def decode(data: bytes) -> Event:
    """The event encoded in `data`; raises msgspec.ValidationError for an unknown or bad one."""
    if not _decoder:
        kinds = tuple(Event.types.values())
        union: Any = kinds[0] if len(kinds) == 1 else _union(kinds)
        _decoder.append(msgspec.json.Decoder(union))
    result: Event = _decoder[0].decode(data)
    return result


def _union(kinds: tuple[type[Event], ...]) -> Any:
    from functools import reduce
    from operator import or_

    return reduce(or_, kinds)
