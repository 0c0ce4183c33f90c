"""The process's garbage-collector settings that the platform applies once it runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from safecity.platform import YOUNG_GC_THRESHOLD, freeze_long_lived


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_what_is_loaded_is_frozen_and_the_young_generation_may_grow(collector: None) -> None:
    gc.unfreeze()
    middle, old = gc.get_threshold()[1:]
    kept = [{"loaded": n} for n in range(100)]

    freeze_long_lived()

    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, middle, old)
