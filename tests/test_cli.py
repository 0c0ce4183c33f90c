"""The `safecity` command: rules check and backtest, replay, reconcile, dead letters, lake, generate."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from safecity import cli
from safecity.alerts.models import Alert
from safecity.platform import Platform
from safecity.registry import Device, EBike, Person
from safecity.registry import service as registry
from safecity.security import audit
from safecity.security.keys import load_pseudonym_keys
from safecity.security.pseudonym import Pseudonymizer
from safecity.settings import Settings
from safecity.store import make_engine, make_session_factory, transaction

STATION = "BS-000001"
STOLEN_TAG = "00A1B2C3D4"
OTHER_TAG = "00C0FFEE11"

BROKEN_RULES = """\
version: 2
extra: true
rules:
  - name: stolen-bike
    kind: hotlist
  - name: stolen-bike
    kind: hotlist
    params: {record_kinds: [teleport]}
  - name: Bad Name
    kind: nonsense
  - name: tamper
    kind: tag_tamper
    severity: urgent
"""

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Wide consoles so tables are not cut; and the logging set-up of each command undone after."""
    monkeypatch.setattr(cli, "console", Console(width=250))
    monkeypatch.setattr(cli, "err", Console(width=250, stderr=True))
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run `safecity ARGS` with its data folder in tmp_path; returns the click Result."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli.app, list(args), env={"SAFECITY_DATA_DIR": str(tmp_path)})

    return invoke


@pytest.fixture
def now() -> datetime:
    """The wall clock: replay checks event times against it."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def registry_ready(tmp_path: Path, now: datetime) -> Settings:
    """The data folder's database at the newest schema, with one base station and a stolen bike."""
    settings = Settings(data_dir=tmp_path)
    platform = Platform.build(settings)  # runs the migrations, as the commands would
    with transaction(platform.session_factory) as session:
        registry.create_device(
            session,
            device_id=STATION,
            kind="rfid_station",
            name="Gate",
            lat=28.0,
            lon=120.7,
            area_id=None,
            now=now,
        )
        reg = registry.BikeRegistration(
            tag_id=STOLEN_TAG,
            frame_number="WZ-1",
            model="Yadea G5",
            colour="red",
            owner_id_number="11010519491231002X",
            owner_name="Zhang Wei",
        )
        bike = registry.register_bike(
            session,
            reg=reg,
            by="clerk",
            now=now - timedelta(hours=3),
            pseudonymize=platform.pseudonyms.pseudonym,
        )
        registry.report_stolen(
            session,
            bike_id=bike.id,
            reported_by="owner",
            basis="report 42",
            owner="officer-12",
            now=now - timedelta(hours=2),
        )
    platform.engine.dispose()
    return settings


def read(i: int, ts: datetime, subject: str = STOLEN_TAG) -> dict[str, Any]:
    """A read by the station, named in the event as replay files must."""
    return {"id": f"r{i}", "kind": "rfid_read", "ts": ts.isoformat(), "device": STATION, "subject": subject}


@pytest.fixture
def replay_file(tmp_path: Path, now: datetime) -> Path:
    """Reads of the stolen tag before and after the report, another tag, and one refused read."""
    events = [
        read(0, now - timedelta(hours=3)),  # before the theft was reported: no warning
        read(1, now - timedelta(minutes=60)),
        read(2, now - timedelta(minutes=59)),
        read(3, now - timedelta(minutes=58), subject=OTHER_TAG),
        read(4, now - timedelta(minutes=57), subject="[/not-a-tag]"),  # looks like console markup
    ]
    path = tmp_path / "reads.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path


def totals_of(result: Result) -> dict[str, int]:
    """The totals replay prints: stdout must hold that JSON and nothing else."""
    assert result.exit_code == 0, result.output
    totals: dict[str, int] = json.loads(result.stdout)
    return totals


def alert_count(settings: Settings) -> int:
    """Alert rows in the registry database."""
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(Alert)) or 0
    engine.dispose()
    return count


def test_rules_check_prints_the_packaged_rules(run: Run) -> None:
    result = run("rules", "check")
    assert result.exit_code == 0, result.output
    assert "default_rules.yaml: OK" in result.stdout
    rows = [line.split("│") for line in result.stdout.splitlines() if line.count("│") == 6]
    assert [(row[1].strip(), row[2].strip()) for row in rows if row[1].strip()] == [
        ("stolen-bike", "hotlist"),
        ("tag-tamper", "tag_tamper"),
        ("station-offline", "device_offline"),
    ]
    assert '"minutes": 15.0' in result.stdout  # parameters shown with their defaults filled in


def test_rules_check_lists_every_problem_of_a_broken_file(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN_RULES)
    result = run("rules", "check", str(path))
    assert result.exit_code == 1
    assert f"{path}: 7 problem(s)" in result.stderr
    for fragment in (
        "version: this server reads version 1 rules files, not 2",
        "unknown top-level keys ['extra']",
        "rules[1] (stolen-bike): the name is used twice",
        "rules[1] (stolen-bike).params.record_kinds: Value error, unknown record kinds ['teleport']",
        "rules[2] (Bad Name).name: String should match pattern '^[a-z0-9][a-z0-9_-]{0,63}$'",
        "rules[2] (Bad Name).kind",
        "rules[3] (tamper).severity",
    ):
        assert fragment in result.stderr, fragment
    assert result.stdout == ""


def test_rules_check_prints_problems_that_look_like_markup_verbatim(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: '[/oops]'\n    kind: hotlist\n")
    result = run("rules", "check", str(path))
    assert result.exit_code == 1, result.output
    assert "rules[0] ([/oops]).name" in result.stderr


def test_rules_check_of_a_missing_file_says_so(run: Run, tmp_path: Path) -> None:
    result = run("rules", "check", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert "cannot read" in result.stderr


def test_replay_prints_totals_and_then_reconciles(
    run: Run, registry_ready: Settings, replay_file: Path
) -> None:
    first = totals_of(run("replay", str(replay_file)))
    assert first == {"received": 5, "stored": 4, "dead_lettered": 1, "duplicates": 0}
    again = totals_of(run("replay", str(replay_file)))
    assert again == {"received": 5, "stored": 0, "dead_lettered": 1, "duplicates": 4}

    check = run("reconcile")
    assert check.exit_code == 0, check.output
    assert "OK: accepted = stored + dead-lettered" in check.stdout
    assert any(line.split()[1:4] == ["stored_lake", "│", "4"] for line in check.stdout.splitlines())


def test_deadletters_show_why_an_event_was_refused(
    run: Run, registry_ready: Settings, replay_file: Path
) -> None:
    totals_of(run("replay", str(replay_file)))
    result = run("deadletters")
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if "r4" in line]
    assert "subject '[/not-a-tag]' is not 8 to 16 upper-case hexadecimal digits" in row
    assert "│ subject │" in row


def test_lake_partitions_lists_what_replay_stored(
    run: Run, registry_ready: Settings, replay_file: Path, now: datetime
) -> None:
    totals_of(run("replay", str(replay_file)))
    result = run("lake", "partitions")
    assert result.exit_code == 0, result.output
    rows = [line.replace("│", " ").split() for line in result.stdout.splitlines() if "rfid_read" in line]
    by_date = {row[0]: int(row[3]) for row in rows}
    expected: dict[str, int] = {}
    for ts in (now - timedelta(hours=3), *(now - timedelta(minutes=m) for m in (60, 59, 58))):
        expected[ts.date().isoformat()] = expected.get(ts.date().isoformat(), 0) + 1
    assert by_date == expected

    compacted = run("lake", "compact")
    assert compacted.exit_code == 0 and compacted.stdout.startswith("compacted")


def test_backtest_reports_the_warning_it_would_raise_and_raises_none(
    run: Run, registry_ready: Settings, replay_file: Path, now: datetime
) -> None:
    totals_of(run("replay", str(replay_file)))
    result = run(
        "rules",
        "backtest",
        "--rule",
        "stolen-bike",
        "--start",
        (now - timedelta(hours=4)).isoformat(),
        "--end",
        now.isoformat(),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["rule"], report["records"]) == ("stolen-bike", 4)
    assert report["warnings_it_would_raise"] == 1  # one stolen bike, read twice after the report
    assert report["findings"] >= 1 and sum(report["by_day"].values()) == 1
    [example] = report["examples"]
    assert example["subject"] == STOLEN_TAG and example["evidence"] >= 1
    assert alert_count(registry_ready) == 0


def test_backtest_of_an_unknown_rule_names_the_known_ones(run: Run, registry_ready: Settings) -> None:
    result = run("rules", "backtest", "--rule", "nope", "--start", "2026-11-01", "--end", "2026-11-02")
    assert result.exit_code == 1
    assert "no rule named 'nope'" in result.stderr and "stolen-bike" in result.stderr


def test_backtest_refuses_an_end_before_the_start(run: Run) -> None:
    result = run("rules", "backtest", "--rule", "stolen-bike", "--start", "2026-11-02", "--end", "2026-11-01")
    assert result.exit_code == 2
    assert "the end must be after the start" in result.stderr


def test_generate_loads_a_tiny_city_once(run: Run, tmp_path: Path) -> None:
    result = run("generate", "--scale", "tiny", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "city 'tiny' seed 3" in result.stdout
    engine = make_engine(Settings(data_dir=tmp_path).resolved_database_url)
    with make_session_factory(engine)() as session:
        devices = session.scalar(select(func.count()).select_from(Device))
        bikes = session.scalar(select(func.count()).select_from(EBike))
    assert devices and bikes
    assert (tmp_path / "city" / "city.geojson").exists()

    again = run("generate", "--scale", "tiny", "--seed", "3")
    assert again.exit_code == 0, again.output
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(EBike)) == bikes
    engine.dispose()


def test_db_upgrade_brings_a_new_database_to_the_newest_schema(run: Run, tmp_path: Path) -> None:
    result = run("db-upgrade")
    assert result.exit_code == 0, result.output
    assert "newest schema" in result.stdout
    assert (tmp_path / "safecity.db").exists()


def test_bad_configuration_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli.app, ["reconcile"], env={"SAFECITY_DATA_DIR": str(tmp_path), "SAFECITY_H3_RESOLUTION": "99"}
    )
    assert result.exit_code == 2
    assert "h3_resolution" in result.stderr


# --- retention ------------------------------------------------------------------------------------


def test_retention_show_prints_the_policy_in_force(run: Run) -> None:
    result = run("retention", "show", "--as-of", "2026-11-22")
    assert result.exit_code == 0, result.output
    [rfid] = [line.replace("│", " ").split() for line in result.stdout.splitlines() if " rfid_read " in line]
    assert rfid == ["rfid_read", "30", "2026-10-23"]
    assert "closed_alerts" in result.stdout and "audit records are never deleted" in result.stdout


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
        [record] = audit.search(session, action="keys.rotate_pseudonym", limit=5)
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


def _password_file(tmp_path: Path, password: str = "a long enough password") -> Path:
    path = tmp_path / "password.txt"
    path.write_text(password + "\n", encoding="utf-8")
    return path


def test_users_create_prints_the_one_time_code_secret_once_and_is_audited(run: Run, tmp_path: Path) -> None:
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
        str(_password_file(tmp_path)),
    )
    assert made.exit_code == 0, made.output
    assert "created admin-1 (administrator)" in made.output
    assert "otpauth://totp/" in made.output  # administrators always get a second factor
    listed = run("users", "list")
    assert "admin-1" in listed.output and "city-wide" in listed.output and "active" in listed.output
    engine = make_engine(f"sqlite:///{tmp_path / 'safecity.db'}")
    with make_session_factory(engine)() as session:
        records = audit.search(session, action="users.create")
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
    result = run("users", "create", "someone", *args, "--password-file", str(_password_file(tmp_path)))
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
        str(_password_file(tmp_path, "short")),
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
        str(_password_file(tmp_path)),
    )
    assert "disp-1 disabled" in run("users", "disable", "disp-1").output
    assert "disabled" in run("users", "list").output
    missing = run("users", "unlock", "nobody")
    assert (missing.exit_code, "unknown user 'nobody'" in missing.output) == (1, True)


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
            str(_password_file(tmp_path)),
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
            str(_password_file(tmp_path)),
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
