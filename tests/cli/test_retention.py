"""`safecity retention show` and `apply`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.helpers import Run


def test_retention_show_prints_the_policy_in_force(run: Run) -> None:
    result = run("retention", "show", "--as-of", "2026-11-22")
    assert result.exit_code == 0, result.output
    [rfid] = [line.replace("│", " ").split() for line in result.stdout.splitlines() if " rfid_read " in line]
    assert rfid == ["rfid_read", "30", "2026-10-23"]
    assert "closed_alerts" in result.stdout and "audit records are never deleted" in result.stdout


def test_retention_show_names_every_entry_whole_on_a_narrow_terminal(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The entry names are what an operator types into the policy file: never cut to "closed_watchl…".
    from safecity.cli.common import console
    from safecity.security.retention import registry_entries

    monkeypatch.setattr(console, "width", 80)
    result = run("retention", "show", "--as-of", "2026-11-22")
    assert result.exit_code == 0, result.output
    cells = {cell.strip() for line in result.stdout.splitlines() for cell in line.split("│")}
    assert {entry.name for entry in registry_entries()} <= cells
    assert "2025-11-22" in cells  # the cut-off day of the 365-day entries
    assert {table for entry in registry_entries() for table in entry.tables} <= cells


def test_retention_apply_dry_run_shows_what_goes_and_apply_deletes_it(run: Run, tmp_path: Path) -> None:
    from safecity.lake import Lake
    from tests.lake.conftest import make_records

    old = datetime.now(UTC) - timedelta(days=60)
    lake = Lake(tmp_path / "lake")
    lake.append(make_records([{"kind": "rfid_read", "ts": old}, {"kind": "rfid_read", "ts": old}]))
    lake.close()

    dry = run("retention", "apply", "--dry-run")
    assert dry.exit_code == 0, dry.output
    [row] = [line.replace("│", " ").split() for line in dry.stdout.splitlines() if " rfid_read " in line]
    assert row == ["lake", "rfid_read", old.date().isoformat(), "1", "2"]
    assert "dry run: 2 rows would be deleted; nothing was" in dry.stdout

    applied = run("retention", "apply")
    assert applied.exit_code == 0, applied.output
    assert "deleted 2 rows; audit record 1" in applied.stdout
    assert not (tmp_path / "lake" / "records" / f"date={old.date().isoformat()}").exists()

    again = run("retention", "apply")
    assert again.exit_code == 0 and "deleted 0 rows; audit record 2" in again.stdout


def test_retention_refuses_a_broken_policy_listing_its_problems(run: Run, tmp_path: Path) -> None:
    (tmp_path / "retention.yaml").write_text(
        "version: 1\nlake: {rfid_read: 0}\nregistry: {audit_records: 1}\n"
    )
    for command in (("retention", "show"), ("retention", "apply", "--dry-run")):
        result = run(*command)
        assert result.exit_code == 1
        assert f"retention policy {tmp_path / 'retention.yaml'}:" in result.stderr
        assert "  - lake.rfid_read: Input should be greater than or equal to 1" in result.stderr
        assert "  - registry.audit_records: audit records are never deleted" in result.stderr


def test_retention_apply_refuses_a_day_after_today(run: Run) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    result = run("retention", "apply", "--as-of", tomorrow)
    assert result.exit_code == 2
    assert "is after today" in result.stderr
    assert run("retention", "apply", "--dry-run", "--as-of", tomorrow).exit_code == 0
