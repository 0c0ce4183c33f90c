"""`safecity audit verify`: the chain and its seals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from safecity.platform import Platform
from safecity.security import AuditEntry, audit
from safecity.settings import Settings
from safecity.store import make_engine
from tests.cli.helpers import Run, password_file


def test_audit_verify_passes_then_catches_an_edited_record(run: Run, tmp_path: Path) -> None:
    for name in ("disp-1", "disp-2", "disp-3"):
        run(
            "users",
            "create",
            name,
            "--role",
            "dispatcher",
            "--city-wide",
            "--password-file",
            str(password_file(tmp_path)),
        )
    sealed = run("audit", "seal")
    assert sealed.exit_code == 0 and "sealed record #" in sealed.output
    ok = run("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact" in ok.output and "1 seal(s) verified" in ok.output
    engine = make_engine(f"sqlite:///{tmp_path / 'safecity.db'}")
    with engine.begin() as conn:
        seq = conn.exec_driver_sql(
            "SELECT seq FROM audit_records WHERE subjects LIKE '%disp-2%'"
        ).scalar_one()
        conn.exec_driver_sql("UPDATE audit_records SET actor = 'someone-else' WHERE seq = ?", (seq,))
    engine.dispose()
    broken = run("audit", "verify")
    assert broken.exit_code == 1
    assert f"audit chain broken at record #{seq}" in broken.output
    assert "altered" in broken.output


def test_audit_verify_catches_records_cut_from_the_end(run: Run, tmp_path: Path) -> None:
    for name in ("disp-1", "disp-2"):
        run(
            "users",
            "create",
            name,
            "--role",
            "dispatcher",
            "--city-wide",
            "--password-file",
            str(password_file(tmp_path)),
        )
    engine = make_engine(f"sqlite:///{tmp_path / 'safecity.db'}")
    with engine.begin() as conn:
        last = conn.exec_driver_sql("SELECT max(seq) FROM audit_records").scalar_one()
        conn.exec_driver_sql("DELETE FROM audit_subjects WHERE seq = ?", (last,))
        conn.exec_driver_sql("DELETE FROM audit_records WHERE seq = ?", (last,))
    engine.dispose()
    broken = run("audit", "verify")
    assert broken.exit_code == 1
    assert "removed from the end" in broken.output


def _three_users(run: Run, tmp_path: Path) -> None:
    for name in ("disp-1", "disp-2", "disp-3"):
        made = run(
            "users",
            "create",
            name,
            "--role",
            "dispatcher",
            "--city-wide",
            "--password-file",
            str(password_file(tmp_path)),
        )
        assert made.exit_code == 0, made.output


def _rewrite_chain(tmp_path: Path, *, actor: str) -> None:
    """What an intruder with database access (and no signing key) does: edit, re-hash, fix the head."""
    engine = make_engine(f"sqlite:///{tmp_path / 'safecity.db'}")
    cols = ", ".join((*audit.CHAINED_FIELDS, "hash"))
    with engine.begin() as conn:
        rows = conn.exec_driver_sql(f"SELECT {cols} FROM audit_records ORDER BY seq").all()  # noqa: S608
        prev = audit.GENESIS
        for row in rows:
            values = list(row[: len(audit.CHAINED_FIELDS)])
            if values[0] == 2:
                values[audit.CHAINED_FIELDS.index("actor")] = actor
            digest = audit.link_hash(prev, values)
            conn.exec_driver_sql(
                "UPDATE audit_records SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (values[audit.CHAINED_FIELDS.index("actor")], prev, digest, values[0]),
            )
            prev = digest
        conn.exec_driver_sql("UPDATE audit_head SET hash = ?", (prev,))
    engine.dispose()


def test_removing_the_seals_after_rewriting_the_chain_is_caught(run: Run, tmp_path: Path) -> None:
    """Issue 9 item 6: the seal journal outside the database still names the seals removed."""
    _three_users(run, tmp_path)
    assert run("audit", "seal").exit_code == 0
    _rewrite_chain(tmp_path, actor="someone-else")
    engine = make_engine(f"sqlite:///{tmp_path / 'safecity.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_seals")
    engine.dispose()

    broken = run("audit", "verify")

    assert broken.exit_code == 1, broken.output
    assert "seal journal" in broken.output and "missing from the database" in broken.output


def test_records_older_than_the_sealing_interval_must_be_sealed(run: Run, tmp_path: Path) -> None:
    """Issue 9 item 6: without any seal (journal gone too), old unsealed records fail verification."""
    platform = Platform.build(Settings(data_dir=tmp_path))
    for n in range(3):
        platform.security.audit.record(
            audit.SYSTEM, AuditEntry("test.old", f"/old/{n}"), at=datetime(2026, 11, 22, 8, n, tzinfo=UTC)
        )
    platform.engine.dispose()

    broken = run("audit", "verify")

    assert broken.exit_code == 1, broken.output
    assert "record #1" in broken.output and "not covered by any seal" in broken.output


def test_a_public_key_that_cannot_be_read_is_an_error(run: Run, tmp_path: Path) -> None:
    """Issue 9 item 6: seal checks are never silently skipped."""
    _three_users(run, tmp_path)
    assert run("audit", "seal").exit_code == 0

    missing = run("audit", "verify", "--public-key", str(tmp_path / "nowhere.pub"))
    assert missing.exit_code == 2, missing.output
    assert "nowhere.pub" in missing.output

    for pub in (tmp_path / "secrets").glob("*.pub"):
        pub.unlink()
    keyless = run("audit", "verify")
    assert keyless.exit_code == 1, keyless.output
    assert "public key" in keyless.output


def test_a_subject_index_row_removed_is_caught(run: Run, tmp_path: Path) -> None:
    """Issue 9 item 7: "who looked at this person" is answered from the index, so verify checks it."""
    _three_users(run, tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'safecity.db'}")
    with engine.begin() as conn:
        seq, name = conn.exec_driver_sql("SELECT seq, subject FROM audit_subjects ORDER BY seq LIMIT 1").one()
        conn.exec_driver_sql("DELETE FROM audit_subjects WHERE seq = ? AND subject = ?", (seq, name))
    engine.dispose()

    broken = run("audit", "verify")

    assert broken.exit_code == 1, broken.output
    assert f"record #{seq}" in broken.output and "subject index" in broken.output
