"""Work for the reader pool's tests: runs in spawned processes, so it lives in an importable module."""

from __future__ import annotations

import ctypes
import os
import time


def read(value: str) -> str:
    """Crash the process on `crash`, hang on `hang`, else answer."""
    if value == "crash":
        ctypes.string_at(0)  # a segmentation fault, as a native reader on a poisoned image
    if value == "exit":
        os._exit(3)
    if value == "hang":
        time.sleep(60)
    return value.upper()
