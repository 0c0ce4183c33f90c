"""`safecity keys init` and `rotate-pseudonym`."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from safecity.registry.models import Person
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.keys import load_pseudonym_keys
from safecity.security.pseudonym import Pseudonymizer
from safecity.settings import Settings
from safecity.store import make_engine, make_session_factory
from tests.cli.helpers import Run


def test_keys_init_creates_the_keys_once_and_never_overwrites(run: Run, tmp_path: Path) -> None:
    first = run("keys", "init")
    assert first.exit_code == 0, first.output
    secrets = tmp_path / "secrets"
    names = ["audit-signing.key", "audit-signing.pub", "pseudonym.keys", "token.key"]
    assert sorted(p.name for p in secrets.iterdir()) == names
    assert first.stdout.count("created") == 4 and "Back these files up" in first.stdout
    contents = {p.name: p.read_bytes() for p in secrets.iterdir()}

    again = run("keys", "init")
    assert again.exit_code == 0, again.output
    assert again.stdout.count("exists, kept") == 4 and "created" not in again.stdout
    assert {p.name: p.read_bytes() for p in secrets.iterdir()} == contents


def test_keys_init_warns_about_a_key_others_can_read(run: Run, tmp_path: Path) -> None:
    run("keys", "init")
    (tmp_path / "secrets" / "token.key").chmod(0o644)
    result = run("keys", "init")
    assert result.exit_code == 0 and "mode 644: others can read it; chmod 600" in result.stdout


def test_rotate_pseudonym_rekeys_the_registry(run: Run, registry_ready: Settings) -> None:
    key_file = registry_ready.resolved_pseudonym_key_file
    result = run("keys", "rotate-pseudonym")
    assert result.exit_code == 0, result.output
    assert "version 2 is now current (was 1); versions held: 1, 2; 1 people re-keyed" in result.stdout
    keys = load_pseudonym_keys(key_file, generate=False)
    engine = make_engine(registry_ready.resolved_database_url)
    with make_session_factory(engine)() as session:
        person = session.scalars(select(Person)).one()
        assert person.id_pseudonym == Pseudonymizer(keys).pseudonym("11010519491231002X")
        [record] = audit.search(session, AuditFilter(action="keys.rotate_pseudonym", limit=5))
        assert record.actor.startswith("os:") and record.result_count == 1
        assert json.loads(record.detail) == {"previous": 1, "current": 2, "resume": False, "versions": [1, 2]}
    engine.dispose()

    resumed = run("keys", "rotate-pseudonym", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "version 2 is current; 0 people re-keyed" in resumed.stdout
    assert load_pseudonym_keys(key_file, generate=False) == keys  # --resume makes no new key


def test_rotate_pseudonym_without_a_key_file_says_what_to_do(run: Run) -> None:
    result = run("keys", "rotate-pseudonym")
    assert result.exit_code == 1
    assert "does not exist; run `safecity keys init`" in result.stderr
    assert "Traceback" not in result.output


# --- accounts and the audit trail -------------------------------------------------------------
