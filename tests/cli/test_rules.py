"""`safecity rules check` and `backtest`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from safecity.settings import Settings
from tests.cli.helpers import BROKEN_RULES, STOLEN_TAG, Run, alert_count, totals_of


def test_rules_check_prints_the_packaged_rules(run: Run) -> None:
    result = run("rules", "check")
    assert result.exit_code == 0, result.output
    assert "default_rules.yaml: OK" in result.stdout
    rows = [line.split("│") for line in result.stdout.splitlines() if line.count("│") == 6]
    assert [(row[1].strip(), row[2].strip()) for row in rows if row[1].strip()] == [
        ("stolen-bike", "hotlist"),
        ("tag-tamper", "tag_tamper"),
        ("station-offline", "device_offline"),
        ("compound-intrusion", "community_intrusion"),
        ("cloned-plate", "plate_clone"),
        ("forged-plate-mismatch", "plate_mismatch"),
        ("forged-plate-unregistered", "plate_unregistered"),
        ("unregistered-vehicle", "community_unregistered_vehicle"),
        ("wanted-person-at-door", "hotlist"),
        ("housing-denied-attempts", "housing_denied_attempts"),
        ("housing-unknown-card", "housing_unknown_card"),
        ("housing-many-compounds", "housing_many_compounds"),
        ("housing-group-renting", "housing_group_renting"),
        ("housing-dormant-tenant", "housing_dormant_tenant"),
        ("housing-unusual-hours", "housing_unusual_hours"),
        ("shop-armed-breach", "shop_armed_breach"),
        ("door-controller-offline", "device_offline"),
        ("door-whitelist-behind", "door_whitelist_behind"),
        ("wearer-sos", "wearer_sos"),
        ("wearer-fall", "wearer_fall"),
        ("wearer-left-safe-zone", "wearer_left_safe_zone"),
        ("wearer-no-fix", "wearer_no_fix"),
        ("wearer-low-battery", "wearer_low_battery"),
        ("hazmat-off-route", "hazmat_off_route"),
        ("hazmat-long-stop", "hazmat_long_stop"),
        ("hazmat-restricted-zone", "hazmat_restricted_zone"),
        ("hazmat-outside-window", "hazmat_outside_window"),
        ("hazmat-speeding", "hazmat_speeding"),
        ("hazmat-silent-terminal", "hazmat_silent_terminal"),
        ("hazmat-quantity-mismatch", "hazmat_quantity_mismatch"),
        ("hazmat-stock-unreconciled", "hazmat_stock_unreconciled"),
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
