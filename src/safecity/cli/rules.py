"""`safecity rules`: check a rules file, backtest a rule over a past period of the lake."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safecity.cli.common import (
    build_platform,
    configure_logging,
    console,
    fail,
    parse_time,
    print_problems,
    progress,
    settings,
)

group = typer.Typer(help="Check and backtest rules.", no_args_is_help=True)


@group.command("check")
def check(
    file: Annotated[Path | None, typer.Argument(help="Rules YAML (default: the one in force).")] = None,
) -> None:
    """Validate a rules file; list every problem with where it is."""
    from safecity.platform import rules_path
    from safecity.rules import RulesError, load_rules

    path = file or rules_path(settings())
    try:
        parsed = load_rules(path)
    except RulesError as exc:
        print_problems(exc)
        raise typer.Exit(1) from exc
    table = Table(title=f"{escape(str(path))}: OK")
    # Names and kinds are what people look for and copy: whole, never cut; the parameters fold.
    for col, attr in (("name", "name"), ("kind", "kind")):
        table.add_column(
            col, no_wrap=True, min_width=max((len(getattr(r, attr)) for r in parsed.rules), default=4)
        )
    for col in ("enabled", "severity"):
        table.add_column(col)
    table.add_column("params", overflow="fold")
    for rule in parsed.rules:
        table.add_row(
            rule.name,
            rule.kind,
            str(rule.enabled),
            rule.severity,
            escape(json.dumps(rule.typed_params().model_dump(), ensure_ascii=False)),
        )
    console.print(table)


@group.command("backtest")
def backtest(
    rule: Annotated[str, typer.Option(help="Name of the rule to test.")],
    start: Annotated[str, typer.Option(help="Period start, ISO 8601 (UTC if no offset).")],
    end: Annotated[str, typer.Option(help="Period end, ISO 8601.")],
    file: Annotated[
        Path | None, typer.Option(help="Rules YAML holding the rule (default: in force).")
    ] = None,
    step_s: Annotated[int, typer.Option(help="Replay step in seconds.")] = 60,
) -> None:
    """Run a rule over a past period of the lake; report the warnings it would have raised (none are)."""
    cfg = settings()
    configure_logging(cfg)
    from safecity.platform import rules_path
    from safecity.rules import PeriodFacts, RulesError, build_rules, load_rules
    from safecity.rules.backtest import backtest as run

    t0, t1 = parse_time(start, "--start"), parse_time(end, "--end")
    if t1 <= t0:
        raise typer.BadParameter("the end must be after the start", param_hint="--end")
    try:
        config = load_rules(file or rules_path(cfg))
    except RulesError as exc:
        fail(str(exc))
    chosen = [r for r in config.rules if r.name == rule]
    if not chosen:
        fail(f"no rule named {rule!r}; known: {', '.join(r.name for r in config.rules)}")
    platform = build_platform(cfg)
    only = type(config)(version=1, rules=[chosen[0].model_copy(update={"enabled": True})])
    evaluator = build_rules(only)[0]
    facts = PeriodFacts(platform.session_factory, lambda: platform.devices.frame, start=t0, end=t1)
    days = max(1, (t1.date() - t0.date()).days + 1)
    with progress() as bar:
        task = bar.add_task(f"backtest {rule}", total=days)
        report = run(
            evaluator,
            scan=lambda a, b: platform.lake.scan(start=a, end=b),
            facts=facts,
            start=t0,
            end=t1,
            step=timedelta(seconds=step_s),
            progress=lambda _rows: bar.advance(task),
        )
    console.print_json(
        json.dumps(
            {
                "rule": report.rule,
                "start": t0.isoformat(),
                "end": t1.isoformat(),
                "records": report.records,
                "findings": report.findings,
                "warnings_it_would_raise": report.warnings,
                "by_day": report.by_day,
                "examples": report.examples,
            }
        )
    )
    platform.engine.dispose()


def register(app: typer.Typer) -> None:
    """`safecity rules ...`."""
    app.add_typer(group, name="rules")
