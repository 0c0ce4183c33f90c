"""The case file as a PDF: what the HTML case file carries, set on numbered A4 pages with ReportLab.

Every value in it came from users or devices: it reaches ReportLab only through
`CjkFont.markup`, which escapes it and sets its Chinese runs in Noto Sans SC. Table cells wrap
(Chinese anywhere, other text at spaces, a long id where it must) rather than being cut, header
rows repeat on each page, and every page's footer names the case, who produced the file and when,
and the page of the total.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    HRFlowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from safecity.workbench.casefile import when
from safecity.workbench.cjkfont import LATIN, LATIN_BOLD, CjkFont, is_latin
from safecity.workbench.linebreak import break_lines
from safecity.workbench.workspace import SavedQuery, Workspace

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 16 * mm, 18 * mm, 22 * mm
_FRAME_PADDING = 6  # ReportLab's page frame keeps this much (points) inside the margins
LEFT = MARGIN_X + _FRAME_PADDING
WIDTH = PAGE_WIDTH - 2 * LEFT  # what the text and tables may fill
INK, MUTED, RULE, SHADE, ACCENT = (
    colors.HexColor("#1b1f24"),
    colors.HexColor("#4b5563"),
    colors.HexColor("#d1d5db"),
    colors.HexColor("#f3f4f6"),
    colors.HexColor("#1d4ed8"),
)
NOTICE = "本案卷含个人信息，仅限办案使用。Personal data: for the investigation of this case only."
MAX_MEETINGS_SHOWN = 5  # as the HTML case file: the first meetings are the evidence, the rest alike

_STYLES = {
    "title": ParagraphStyle("title", fontName=LATIN_BOLD, fontSize=17, leading=21, textColor=INK),
    "subtitle": ParagraphStyle("subtitle", fontName=LATIN, fontSize=12, leading=16, textColor=INK),
    "h2": ParagraphStyle("h2", fontName=LATIN_BOLD, fontSize=12, leading=15, spaceBefore=12, textColor=INK),
    "h3": ParagraphStyle("h3", fontName=LATIN_BOLD, fontSize=10, leading=13, spaceBefore=8, textColor=INK),
    "body": ParagraphStyle("body", fontName=LATIN, fontSize=9, leading=12.5, textColor=INK),
    "meta": ParagraphStyle("meta", fontName=LATIN, fontSize=8, leading=10.5, textColor=MUTED),
    "cell": ParagraphStyle("cell", fontName=LATIN, fontSize=8, leading=10.5, textColor=INK),
    "head": ParagraphStyle("head", fontName=LATIN_BOLD, fontSize=8, leading=10.5, textColor=INK),
    "footer": ParagraphStyle("footer", fontName=LATIN, fontSize=7, leading=9, textColor=MUTED),
    "notice": ParagraphStyle(
        "notice",
        fontName=LATIN,
        fontSize=8.5,
        leading=11.5,
        textColor=INK,
        backColor=colors.HexColor("#fef3c7"),
        borderColor=colors.HexColor("#f59e0b"),
        borderWidth=0.6,
        borderPadding=5,
        spaceBefore=6,
        spaceAfter=10,
    ),
}
_STYLES["page"] = ParagraphStyle("page", parent=_STYLES["footer"], alignment=TA_RIGHT)
# Text with Chinese in it breaks between any two characters (and other text in it at spaces, or
# where it must); ReportLab does that glyph by glyph, five times slower than its breaking at
# spaces (splitting a long id where it must), which text without Chinese keeps.
_CJK_STYLES = {
    name: ParagraphStyle(f"{name}-cjk", parent=style, wordWrap="CJK") for name, style in _STYLES.items()
}

_CELL_SIZE, _CELL_PADDING, _NOTE_INDENT = 8, 3.5, 7
_SLACK = 0.5  # points left over on a broken line, so that ReportLab sets it as one line
# ReportLab splits a cell of plain text across pages counting its lines at 1.2 times the font
# size; beyond a few lines a cell is set as paragraphs of a line each, which split exactly.
_MAX_TEXT_LINES = 12
# A row taller than what is left of the page (a long note; one taller than a page would stop the
# file) is split across pages, leaving at least this much (points) on either side.
_SPLIT_IN_ROW = 24
# A heading needs this much room below it, else it starts the next page instead of ending this one.
_ROOM_AFTER_SECTION, _ROOM_AFTER_QUESTION = 45 * mm, 35 * mm
_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, RULE),
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, -1), LATIN, _CELL_SIZE, 1.2 * _CELL_SIZE),
        ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
)
# ReportLab's fonts and its TrueType subsets are process-wide: one document is set at a time (the
# work is CPU-bound Python, so a second thread would not finish sooner anyway).
_render_lock = threading.Lock()


class _Whole(Paragraph):
    """A paragraph ReportLab never splits across pages: a heading, or one line already broken.

    ReportLab's breaking of Chinese, when it carries a paragraph over to the next page, adds
    spaces and repeats characters; long text is broken into lines here (`linebreak`) instead,
    and a page may fall between any two of them.
    """

    _wrapped: tuple[float, tuple[float, float]] | None = None

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        # A table measures every paragraph of a cell again each time it carries the cell over
        # to another page: a long note's lines are set once, not once a page.
        if self._wrapped is None or self._wrapped[0] != availWidth:
            self._wrapped = (availWidth, super().wrap(availWidth, availHeight))
        return self._wrapped[1]

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        return []


class _Writer:
    """Paragraphs and tables of user text, set in the Chinese font where it needs one."""

    def __init__(self, font: CjkFont) -> None:
        self._font = font

    def p(self, text: object, style: str = "body") -> Paragraph:
        """A short paragraph of plain text (a heading, a line of particulars), kept whole."""
        plain = "" if text is None else str(text)
        bold = _STYLES[style].fontName == LATIN_BOLD
        styles = _STYLES if is_latin(plain) else _CJK_STYLES
        return _Whole(self._font.markup(plain, bold=bold), styles[style])

    def lines(self, text: object, style: str, room: float) -> list[Flowable]:
        """Text of any length as one paragraph per line no wider than `room` points."""
        shape = _STYLES[style]
        bold = shape.fontName == LATIN_BOLD

        def width(piece: str) -> float:
            return self._font.width(piece, shape.fontSize, bold=bold)

        return [
            # An empty line keeps its height (a paragraph of nothing has none).
            _Whole(self._font.markup(line, bold=bold) or "&nbsp;", shape)
            for line in break_lines("" if text is None else str(text), room - _SLACK, width)
        ]

    def table(
        self, header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float]
    ) -> Table:
        """A grid with a header row repeated on every page; `widths` are fractions of the page's."""
        room = [WIDTH * w - 2 * _CELL_PADDING for w in widths]
        cells: list[list[Any]] = [[self.p(h, "head") for h in header]]
        cells += [[self._cell(v, r) for v, r in zip(row, room, strict=True)] for row in rows]
        return Table(
            cells,
            colWidths=[WIDTH * w for w in widths],
            repeatRows=1,
            splitInRow=_SPLIT_IN_ROW,
            style=_GRID,
            hAlign="LEFT",
        )

    def fields(self, pairs: Sequence[tuple[str, object]]) -> Table:
        """Label and value rows, without a grid: the case's particulars."""
        room = WIDTH * 0.76 - _CELL_PADDING
        cells = [[self.p(label, "head"), self.lines(value, "cell", room)] for label, value in pairs]
        style = TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
        return Table(
            cells,
            colWidths=[WIDTH * 0.24, WIDTH * 0.76],
            splitInRow=_SPLIT_IN_ROW,
            style=style,
            hAlign="LEFT",
        )

    def _cell(self, value: object, room: float) -> Any:
        """A table cell: plain text where every line fits as it is, else a wrapping paragraph."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
        text = "" if value is None else str(value)
        lines = text.split("\n")
        # Most cells (ids, times, devices) are a few short Latin lines: as strings they cost a
        # tenth of a paragraph, which is measured and broken word by word, and set twice.
        if (
            len(lines) <= _MAX_TEXT_LINES
            and is_latin(text)
            and all(stringWidth(line, LATIN, _CELL_SIZE) <= room for line in lines)
        ):
            return text
        return self.lines(text, "cell", room)


def _section(w: _Writer, title: str) -> list[Flowable]:
    return [
        CondPageBreak(_ROOM_AFTER_SECTION),
        w.p(title, "h2"),
        HRFlowable(width="100%", thickness=1.2, color=ACCENT, spaceAfter=5),
    ]


def _case(w: _Writer, workspace: Workspace) -> list[Flowable]:
    case = workspace.case
    status = case.status + (f" (closed {when(case.closed_at)})" if case.closed_at else "")
    return [
        *_section(w, "The case 案件"),
        w.fields(
            [
                ("Case 案件编号", case.id),
                ("Title 案件名称", case.title),
                ("Basis (purpose) 立案依据", case.basis),
                ("Area 辖区", case.area_id),
                ("Window 时间范围", f"{when(case.window_start)} – {when(case.window_end)}"),
                ("Status 状态", status),
                ("Opened 立案", f"{case.opened_by}, {when(case.opened_at)}"),
                ("Members 办案人员", ", ".join(case.members)),
            ]
        ),
    ]


def _notes(w: _Writer, workspace: Workspace) -> list[Flowable]:
    out = _section(w, f"Notes 笔记 ({len(workspace.notes)})")
    if not workspace.notes:
        return [*out, w.p("No notes. 无笔记。", "meta")]
    for note in workspace.notes:
        box = Table(
            [
                [w.p(f"{note.written_by}, {when(note.written_at)}", "meta")],
                [w.lines(note.text, "body", WIDTH - _NOTE_INDENT - _CELL_PADDING)],
            ],
            colWidths=[WIDTH],
            splitInRow=_SPLIT_IN_ROW,
            style=TableStyle(
                [
                    ("LINEBEFORE", (0, 0), (0, -1), 2, colors.HexColor("#93c5fd")),
                    ("LEFTPADDING", (0, 0), (-1, -1), _NOTE_INDENT),
                    ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ]
            ),
            hAlign="LEFT",
        )
        out += [box, Spacer(1, 5)]
    return out


def _pins(w: _Writer, workspace: Workspace) -> list[Flowable]:
    out = _section(w, f"Pinned evidence 证据 ({len(workspace.pins)})")
    if not workspace.pins:
        return [*out, w.p("Nothing pinned. 无证据。", "meta")]
    rows = [[p.kind, p.ref, p.label, p.note, f"{p.pinned_by}, {when(p.pinned_at)}"] for p in workspace.pins]
    return [*out, w.table(["Kind", "What", "Label", "Note", "Pinned"], rows, [0.1, 0.26, 0.18, 0.28, 0.18])]


def _place(window: dict[str, Any]) -> str:
    if window.get("devices"):
        return "devices " + ", ".join(window["devices"])
    if window.get("center"):
        lat, lon = window["center"]
        return f"{round(window.get('radius_m') or 0)} m around {lat:.5f}, {lon:.5f}"
    return f"drawn area of {len(window.get('polygon') or [])} corners"


def _collision(w: _Writer, q: SavedQuery, result: dict[str, Any]) -> list[Flowable]:
    windows = q.params.get("windows") or []
    kinds = ", ".join(q.params.get("kinds") or []) or "all kinds"
    out: list[Flowable] = [
        w.p(f"Seen in at least {q.params.get('k')} of {len(windows)} windows; {kinds}."),
        Spacer(1, 3),
        w.table(
            ["#", "Window 时间", "Place 地点"],
            [
                [i, f"{when(x.get('start'))} – {when(x.get('end'))}", _place(x)]
                for i, x in enumerate(windows, 1)
            ],
            [0.05, 0.45, 0.5],
        ),
    ]
    hits = result.get("hits") or []
    if hits:
        rows = [
            [
                f"{h['subject_kind']} {h['subject']}",
                h["windows"],
                h["sightings"],
                "\n".join(
                    f"window {e['window'] + 1}: {when(e['ts'])}, {e.get('device')} ({e.get('area')}), "
                    f"event {e['event_id']}"
                    for e in h.get("evidence") or []
                ),
            ]
            for h in hits
        ]
        out += [
            Spacer(1, 6),
            w.table(["Subject 对象", "Windows", "Sightings", "Evidence 证据"], rows, [0.25, 0.09, 0.1, 0.56]),
        ]
    return out


def _companions(w: _Writer, q: SavedQuery, result: dict[str, Any]) -> list[Flowable]:
    p = q.params
    out: list[Flowable] = [
        w.p(
            f"{p.get('subject_kind')} {p.get('subject')}, {when(p.get('start'))} – {when(p.get('end'))}, "
            f"within {p.get('tolerance_s')} s and {p.get('ring')} ring(s) of cells; at least "
            f"{p.get('min_meetings')} meetings at {p.get('min_places')} places."
        )
    ]
    found = result.get("companions") or []
    if found:
        rows = [
            [
                f"{c['subject_kind']} {c['subject']}",
                c["places"],
                c["meetings"],
                f"{when(c['first'])} – {when(c['last'])}",
                "\n".join(
                    f"{when(m['ts'])} {m.get('device')}"
                    for m in (c.get("evidence") or [])[:MAX_MEETINGS_SHOWN]
                ),
            ]
            for c in found
        ]
        out += [
            Spacer(1, 4),
            w.table(
                ["Companion 同行对象", "Places", "Meetings", "First – last", "Evidence 证据"],
                rows,
                [0.24, 0.08, 0.09, 0.27, 0.32],
            ),
        ]
    return out


def _read(read: dict[str, Any]) -> str:
    return f"{when(read.get('ts'))}\n{read.get('device')} ({read.get('area')})\nevent {read.get('event_id')}"


def _cloned_plates(w: _Writer, q: SavedQuery, result: dict[str, Any]) -> list[Flowable]:
    p = q.params
    plates = ", ".join(p.get("plates") or []) or "every plate"
    # The plates asked about may be many: broken into lines, so a page may fall between them.
    out = w.lines(
        f"{when(p.get('start'))} – {when(p.get('end'))}: {plates}; faster than {p.get('max_kmh')} km/h "
        f"over at least {p.get('min_distance_m')} m.",
        "body",
        WIDTH,
    )
    pairs = result.get("pairs") or []
    if pairs:
        rows = [
            [
                x["plate"],
                round(x["distance_m"]),
                x["seconds"],
                x["kmh"],
                _read(x["first"]),
                _read(x["second"]),
            ]
            for x in pairs
        ]
        out += [
            Spacer(1, 4),
            w.table(
                ["Plate 号牌", "Metres", "Seconds", "km/h", "First read", "Second read"],
                rows,
                [0.14, 0.09, 0.09, 0.08, 0.3, 0.3],
            ),
        ]
    return out


def _search(w: _Writer, q: SavedQuery, result: dict[str, Any]) -> list[Flowable]:
    kinds = ", ".join(q.params.get("kinds") or []) or "every kind"
    out: list[Flowable] = [w.p(f"“{q.params.get('q')}” in {kinds}.")]
    rows = [
        [kind, h["title"], "\n".join(h["why"])]
        for kind, hits in (result.get("groups") or {}).items()
        for h in hits
    ]
    if rows:
        out += [
            Spacer(1, 4),
            w.table(["Kind 类型", "Found 结果", "Why 匹配原因"], rows, [0.14, 0.36, 0.5]),
        ]
    return out


def _links(w: _Writer, q: SavedQuery, result: dict[str, Any]) -> list[Flowable]:
    view = result.get("view") or {}
    labels = {n["id"]: n["label"] for n in view.get("nodes") or []}
    path = result.get("path")
    edges = path if path else view.get("edges") or []
    rows = [
        [
            labels.get(e["a"], e["a"]),
            e["relation"],
            labels.get(e["b"], e["b"]),
            e["source"],
            when(e.get("since")),
        ]
        for e in edges
    ]
    out: list[Flowable] = []
    if rows:
        out.append(
            w.table(
                ["From 起点", "Link 关系", "To 终点", "Source 来源", "Since 时间"],
                rows,
                [0.22, 0.18, 0.26, 0.18, 0.16],
            )
        )
    return out


_ANSWERS = {
    "collision": _collision,
    "companions": _companions,
    "cloned_plates": _cloned_plates,
    "search": _search,
    "links": _links,
}


def _question(w: _Writer, q: SavedQuery) -> list[Flowable]:
    heading = [
        CondPageBreak(_ROOM_AFTER_QUESTION),
        w.p(f"#{q.id} {q.title}", "h3"),
        w.p(
            f"{q.kind} · asked by {q.asked_by} at {when(q.asked_at)} · {q.result_count:,} in the answer",
            "meta",
        ),
        Spacer(1, 3),
    ]
    shape = _ANSWERS.get(q.kind)
    if shape is None:  # a kind this file does not know yet: its parameters as they were saved
        body = w.lines(json.dumps(q.params, ensure_ascii=False, indent=1, default=str), "cell", WIDTH)
    else:
        body = shape(w, q, q.result or {})
    return [*heading, *body]


def _questions(w: _Writer, answers: list[SavedQuery]) -> list[Flowable]:
    out = _section(w, f"Questions asked 查询记录 ({len(answers)})")
    if not answers:
        return [*out, w.p("No questions asked yet. 暂无查询。", "meta")]
    for q in answers:
        out += _question(w, q)
    return out


def _canvas_with_footer(w: _Writer, left: str) -> type[Canvas]:
    """A canvas class that, once every page is laid out, writes each footer with the page count."""
    footer = w.p(left, "footer")

    class FooterCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (ReportLab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()  # type: ignore[attr-defined]  # ReportLab's own next-page step, unstubbed

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, 1):
                self.__dict__.update(state)
                self._footer(number, total)
                super().showPage()
            super().save()

        def _footer(self, number: int, total: int) -> None:
            top = MARGIN_BOTTOM - 7 * mm
            self.setStrokeColor(RULE)
            self.setLineWidth(0.4)
            self.line(LEFT, top + 3, LEFT + WIDTH, top + 3)
            page = w.p(f"Page {number} of {total} · 第 {number} 页，共 {total} 页", "page")
            for flowable, x, width in (
                (footer, LEFT, WIDTH * 0.7),
                (page, LEFT + WIDTH * 0.7, WIDTH * 0.3),
            ):
                _, height = flowable.wrap(width, MARGIN_BOTTOM)
                flowable.drawOn(self, x, top - height)

    return FooterCanvas


def render_case_file_pdf(
    workspace: Workspace,
    answers: list[SavedQuery],
    *,
    exported_by: str,
    exported_at: datetime,
    font: CjkFont,
) -> bytes:
    """The case file as PDF bytes: the case, its notes, pins and every question with its answer."""
    font.require()
    w = _Writer(font)
    case = workspace.case
    story: list[Flowable] = [
        w.p(f"Case file 案卷 {case.id}", "title"),
        w.p(case.title, "subtitle"),
        w.p(
            f"Produced by {exported_by} at {when(exported_at)}; this export is recorded in the audit "
            f"trail. {NOTICE}",
            "notice",
        ),
        *_case(w, workspace),
        *_notes(w, workspace),
        *_pins(w, workspace),
        *_questions(w, answers),
    ]
    footer = f"Case file {case.id} · produced by {exported_by} at {when(exported_at)} · {NOTICE}"
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=f"Case file {case.id} 案卷",
        subject=case.title,
        author=exported_by,
        creator="safecity",
        pageCompression=1,
    )
    with _render_lock:
        doc.build(story, canvasmaker=_canvas_with_footer(w, footer))
    return out.getvalue()


__all__ = ["render_case_file_pdf"]
