"""The case file: a case's workspace as one self-contained, printable HTML document.

Rendered with Jinja2 (autoescaped: every value in it came from users or devices). The page
carries its own styles and loads the console's Chinese font from the platform when it can
reach it, falling back to the reader's system fonts. The same content as a PDF built on the
server is `casefile_pdf`'s; both show times as `when` does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from safecity.workbench.workspace import SavedQuery, Workspace

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = Environment(
    loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True
)


def when(value: object) -> str:
    """A time (or ISO text of one) as the case file shows it: to the second, in UTC."""
    moment = value
    if isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(moment, datetime):
        # Windows keep the offset they were asked in (+08:00); a time without one is UTC as stored.
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


_ENV.filters["when"] = when


def render_case_file(
    workspace: Workspace,
    answers: list[SavedQuery],
    *,
    exported_by: str,
    exported_at: datetime,
    font_css: str | None = None,
) -> str:
    """The case file as HTML: the case, its notes, pins and every question with its answer."""
    return _ENV.get_template("case_file.html").render(
        case=workspace.case,
        notes=workspace.notes,
        pins=workspace.pins,
        answers=answers,
        exported_by=exported_by,
        exported_at=exported_at,
        font_css=font_css,
    )


__all__ = ["render_case_file", "when"]
