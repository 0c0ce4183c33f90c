"""Running and operating: replay, reconcile, dead letters, lake partitions, generate, db-upgrade."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from safecity import cli
from safecity.registry.models import Device, EBike
from safecity.settings import Settings
from safecity.store import make_engine, make_session_factory
from tests.cli.helpers import Run, totals_of


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


def test_the_command_runs_as_a_module_as_the_benchmarks_start_it() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "safecity.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout and "retention" in done.stdout


def test_areas_import_loads_a_city_and_names_what_is_wrong(run: Run, tmp_path: Path) -> None:
    """`safecity areas import FILE`: the same import as the API, for files larger than a request."""
    ring = [[120.69, 27.99], [120.71, 27.99], [120.71, 28.01], [120.69, 28.01], [120.69, 27.99]]
    city = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"id": "D1", "kind": "district", "name": "鹿城区"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [120.7, 28.0]},
                "properties": {"id": "S1", "kind": "station", "name": "五马派出所", "parent_id": "D1"},
            },
        ],
    }
    good = tmp_path / "city.geojson"
    good.write_text(json.dumps(city, ensure_ascii=False), encoding="utf-8")
    done = run("areas", "import", str(good))
    assert done.exit_code == 0, done.output
    assert "2 new area(s), 0 updated" in done.output

    city["features"][1]["properties"]["parent_id"] = "D404"
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(city), encoding="utf-8")
    refused = run("areas", "import", str(bad))
    assert refused.exit_code == 1
    assert "features[1].properties.parent_id" in refused.output and "D404" in refused.output

    (tmp_path / "not.json").write_text("{nope", encoding="utf-8")
    assert run("areas", "import", str(tmp_path / "not.json")).exit_code == 2
