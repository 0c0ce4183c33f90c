"""The suite runs on parallel workers: every module on the shared brokers must be in one group."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import SHARED_BROKERS

ROOT = Path(__file__).resolve().parent.parent
# A connection to the machine's own Mosquitto or NATS (tests that start a broker of their own use
# a free port and may run anywhere).
BROKER = re.compile(r'127\.0\.0\.1[",: ]*(1883|4222)\b')


def test_every_module_on_the_shared_brokers_runs_in_the_shared_group() -> None:
    using = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if BROKER.search(path.read_text(encoding="utf-8"))
    }
    assert using, "no module found on the shared brokers: the pattern no longer matches how tests connect"
    assert using == SHARED_BROKERS, (
        f"add to SHARED_BROKERS in tests/conftest.py: {sorted(using - SHARED_BROKERS)}; "
        f"no longer on the brokers: {sorted(SHARED_BROKERS - using)}"
    )
