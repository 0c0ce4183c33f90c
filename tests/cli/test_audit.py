"""`safecity audit verify`: the chain and its seals."""

from __future__ import annotations

from pathlib import Path

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
