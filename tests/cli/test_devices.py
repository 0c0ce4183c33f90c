"""`safecity devices bind-terminal`: a tracker's own id bound from the command line, audited."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from safecity import registry
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.settings import Settings
from safecity.store import transaction
from tests.cli.helpers import Run

IMEI = "864717003283581"


@pytest.fixture
def tracker(registry_ready: Settings, now: datetime) -> str:
    """A registered tracker (no area) in the data folder's database."""
    platform = Platform.build(registry_ready)
    with transaction(platform.session_factory) as session:
        registry.create_device(
            session,
            device_id="TRK-1",
            kind="tracker",
            name="Locator",
            lat=None,
            lon=None,
            area_id=None,
            now=now,
        )
    platform.engine.dispose()
    return "TRK-1"


def test_bind_terminal_prints_one_line_and_is_audited(
    run: Run, registry_ready: Settings, tracker: str
) -> None:
    result = run(
        "devices",
        "bind-terminal",
        tracker,
        "--protocol",
        "gt06",
        "--terminal",
        IMEI,
        "--utc-offset-minutes",
        "480",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"bound gt06 terminal {IMEI} to {tracker} (UTC offset 480 min)"
    platform = Platform.build(registry_ready)
    with platform.session_factory() as session:
        bound = registry.get_terminal(session, "gt06", IMEI)
        assert bound is not None and (bound.device_id, bound.utc_offset_minutes) == (tracker, 480)
        [record] = audit.search(session, AuditFilter(action="devices.bind_terminal"))
        assert json.loads(record.detail) == {"device": tracker, "protocol": "gt06", "terminal": IMEI}
        assert record.actor.startswith("os:")
    platform.engine.dispose()

    again = run("devices", "bind-terminal", tracker, "--protocol", "gt06", "--terminal", IMEI)
    assert (again.exit_code, f"gt06 terminal {IMEI} is bound to a device already" in again.output) == (
        1,
        True,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--protocol", "tk103", "--terminal", IMEI], "--protocol: Input should be 'gt06' or 'jt808'"),
        (
            ["--protocol", "gt06", "--terminal", "12345"],
            "--terminal: Value error, a gt06 terminal is its 15-digit",
        ),
        (["--protocol", "jt808", "--terminal", "13511221122"], "12 digits (2013) or 20 (2019), not 11"),
        (["--protocol", "gt06", "--terminal", IMEI, "--utc-offset-minutes", "900"], "--utc-offset-minutes"),
    ],
)
def test_bind_terminal_refuses_bad_input_in_one_line_with_exit_2(
    run: Run, tracker: str, args: list[str], message: str
) -> None:
    result = run("devices", "bind-terminal", tracker, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_bind_terminal_names_an_unknown_device_and_a_device_that_is_no_tracker(
    run: Run, tracker: str
) -> None:
    missing = run("devices", "bind-terminal", "TRK-404", "--protocol", "gt06", "--terminal", IMEI)
    assert (missing.exit_code, "device TRK-404 not found (device)" in missing.output) == (1, True)
    station = run("devices", "bind-terminal", "BS-000001", "--protocol", "gt06", "--terminal", IMEI)
    assert station.exit_code == 2 and "not a tracker (device_id)" in station.output
