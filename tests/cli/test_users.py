"""`safecity users`: accounts from the command line, audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.store import make_engine, make_session_factory
from tests.cli.helpers import Run, password_file


def test_users_create_shows_no_one_time_code_secret_and_is_audited(run: Run, tmp_path: Path) -> None:
    made = run(
        "users",
        "create",
        "admin-1",
        "--role",
        "administrator",
        "--name",
        "First Admin",
        "--unit",
        "IT Office",
        "--password-file",
        str(password_file(tmp_path)),
    )
    assert made.exit_code == 0, made.output
    assert "created admin-1 (administrator)" in made.output
    # Administrators always need a second factor; its owner enrols it, the operator never sees it.
    assert "otpauth" not in made.output and "secret" not in made.output
    assert "sets up its one-time code at its first sign-in" in made.output
    listed = run("users", "list")
    assert "admin-1" in listed.output and "city-wide" in listed.output and "active" in listed.output
    assert "at next sign-in" in listed.output
    engine = make_engine(f"sqlite:///{tmp_path / 'safecity.db'}")
    with make_session_factory(engine)() as session:
        records = audit.search(session, AuditFilter(action="users.create"))
        assert [json.loads(r.subjects) for r in records] == [["account:admin-1"]]
        assert records[0].actor.startswith("os:")
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "wizard"], "unknown role 'wizard'"),
        (["--role", "patrol_officer"], "needs at least one area"),
        (["--role", "dispatcher", "--city-wide", "--area", "NOWHERE"], "unknown area 'NOWHERE'"),
    ],
)
def test_users_create_refuses_bad_input_in_one_line(
    run: Run, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run("users", "create", "someone", *args, "--password-file", str(password_file(tmp_path)))
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_users_create_refuses_a_weak_password(run: Run, tmp_path: Path) -> None:
    result = run(
        "users",
        "create",
        "disp-1",
        "--role",
        "dispatcher",
        "--city-wide",
        "--password-file",
        str(password_file(tmp_path, "short")),
    )
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output


def test_users_disable_and_unlock_name_unknown_users(run: Run, tmp_path: Path) -> None:
    run(
        "users",
        "create",
        "disp-1",
        "--role",
        "dispatcher",
        "--city-wide",
        "--password-file",
        str(password_file(tmp_path)),
    )
    assert "disp-1 disabled" in run("users", "disable", "disp-1").output
    assert "disabled" in run("users", "list").output
    missing = run("users", "unlock", "nobody")
    assert (missing.exit_code, "unknown user 'nobody'" in missing.output) == (1, True)


def test_users_reset_totp_shows_no_secret_and_the_user_enrols_again(run: Run, tmp_path: Path) -> None:
    made = run(
        "users",
        "create",
        "inv-1",
        "--role",
        "investigator",
        "--city-wide",
        "--password-file",
        str(password_file(tmp_path)),
    )
    assert made.exit_code == 0, made.output
    reset = run("users", "reset-totp", "inv-1")
    assert reset.exit_code == 0, reset.output
    assert "otpauth" not in reset.output and "secret" not in reset.output
    assert "inv-1: one-time code cleared; it is set up again at the next sign-in" in reset.output
    engine = make_engine(f"sqlite:///{tmp_path / 'safecity.db'}")
    with make_session_factory(engine)() as session:
        assert [r.action for r in audit.search(session, AuditFilter(action="users.totp"))] == ["users.totp"]
    engine.dispose()
