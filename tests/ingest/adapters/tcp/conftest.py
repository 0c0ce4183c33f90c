"""Real GT06 frames (tests/fixtures/gt06/frames.json) for the codec's tests."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).parents[3] / "fixtures" / "gt06" / "frames.json"
_DATA = json.loads(FIXTURES.read_text())
FRAMES: dict[str, bytes] = {name: bytes.fromhex(h) for name, h in _DATA["frames"].items()}
BAD_FRAMES: dict[str, bytes] = {name: bytes.fromhex(h) for name, h in _DATA["bad_frames"].items()}
ACKS: dict[str, bytes] = {name: bytes.fromhex(h) for name, h in _DATA["acks"].items()}
