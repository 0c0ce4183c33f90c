"""The case file as a PDF over HTTP: the case's Chinese text in real glyphs of the embedded Noto
Sans SC, long text wrapped rather than cut, refused exactly as the HTML file, audited as pdf."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from safecity.platform import Platform
from safecity.workbench.casefile import when
from tests.workbench import test_workbench_api as api

setup = api.setup  # the burglary series: areas, devices, the lake's sightings, four accounts
World = tuple[TestClient, Platform, dict[str, dict[str, str]]]

TITLE = "吴马街三家商铺连环盗窃案"
NOTE = "嫌疑人手机在三家店都出现过，与同行车辆四次同行。"
LONG_REF = "phone:" + "9f3c2a71e04b6d58" * 7  # one unbroken 118-character token
# Some hundred lines of a narrow column: the row it is in goes on over more than one page.
LONG_NOTE = "".join(f"店主称案发当晚听到卷帘门响动（第{n}次）。" for n in range(150)) + "END-OF-NOTE"


def _open(client: TestClient, who: dict[str, str]) -> str:
    body = {
        "title": TITLE,
        "basis": "报警记录 2026-1121-0031、-0032、-0040",
        "area_id": "S1",
        "window_start": (api.NOW - timedelta(days=3)).isoformat(),
        "window_end": api.NOW.isoformat(),
    }
    answer = client.post("/api/v1/cases", json=body, headers=who)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _worked_case(client: TestClient, me: dict[str, str]) -> str:
    """A case with a collision and a companions search saved, two pins and a note."""
    case_id = _open(client, me)
    assert api.collide(client, me, case_id=case_id).status_code == 200
    companions = {
        "subject_kind": "phone",
        "subject": api.THIEF_PHONE,
        "start": (api.NOW - timedelta(days=2)).isoformat(),
        "end": api.NOW.isoformat(),
        "min_places": 3,
        "case_id": case_id,
        "purpose": "who travels with the suspect's phone",
    }
    assert client.post("/api/v1/workbench/companions", json=companions, headers=me).status_code == 200
    pins = [
        {"kind": "subject", "ref": f"plate:{api.MATE}", "label": "同行车辆", "note": "four trips"},
        {"kind": "subject", "ref": LONG_REF, "label": "long", "note": LONG_NOTE},
    ]
    for pin in pins:
        assert client.post(f"/api/v1/cases/{case_id}/pins", json=pin, headers=me).status_code == 201
    for note in (NOTE, LONG_NOTE):
        assert (
            client.post(f"/api/v1/cases/{case_id}/notes", json={"text": note}, headers=me).status_code == 201
        )
    return case_id


def _text(pdf: PdfReader) -> str:
    """The document's text with every blank taken out: a wrapped line breaks anywhere in Chinese."""
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in pdf.pages))


def _column(pdf: PdfReader, first: str) -> str:
    """The text of every line set where the line `first` is (a table's column, whose header it
    is, or the notes), over all pages, lines joined: what a reader sees in that column."""
    lines: list[tuple[int, str]] = []
    for page in pdf.pages:
        # Each line of a cell starts at the column's left edge (its font runs included).
        page.extract_text(visitor_text=lambda text, cm, tm, *_: lines.append((round(cm[4] + tm[4]), text)))
    left = [x for x, text in lines if text.strip() == first][-1]  # the case's particulars come first
    # Only the line ends are taken out: a space ReportLab slipped in would show.
    return "".join(text for x, text in lines if x == left and text.strip() != first).replace("\n", "")


def _fonts(pdf: PdfReader) -> dict[str, Any]:
    """Every font the pages use, by its base name, with its descriptor."""
    found: dict[str, Any] = {}
    for page in pdf.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            found[str(font["/BaseFont"])] = font.get("/FontDescriptor")
    return found


def test_the_pdf_carries_the_case_in_chinese_set_in_the_embedded_noto_sans_sc(setup: World) -> None:
    client, platform, people = setup
    me = people["investigator"]
    case_id = _worked_case(client, me)

    answer = client.get(f"/api/v1/cases/{case_id}/file.pdf", headers=me)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="case-{case_id}.pdf"'
    pdf = PdfReader(io.BytesIO(answer.content))
    text = _text(pdf)
    thief = platform.pseudonyms.pseudonym(api.THIEF_PHONE)
    for expected in (case_id, TITLE, NOTE, "同行车辆", thief, api.MATE, "Collision:3windows", "inv-1"):
        assert re.sub(r"\s+", "", expected) in text, expected
    # Long text wraps onto more lines and pages instead of being cut at a cell's edge, every
    # character once and in order: a pin's long id and note in their columns, a long note.
    assert LONG_REF in _column(pdf, "What")
    assert LONG_NOTE in _column(pdf, "Note")
    notes = _column(pdf, f"inv-1, {when(api.NOW)}")
    assert NOTE in notes and LONG_NOTE in notes
    assert text.count("卷帘门") == 2 * LONG_NOTE.count("卷帘门")
    pages = len(pdf.pages)
    assert f"Page{pages}of{pages}" in text
    assert pdf.metadata is not None and pdf.metadata.title == f"Case file {case_id} 案卷"

    fonts = _fonts(pdf)
    chinese = {name: d for name, d in fonts.items() if re.fullmatch(r"/[A-Z]{6}\+NotoSansSC-\w+-\d+", name)}
    assert chinese, sorted(fonts)
    # Embedded (a TrueType subset in the file), not left to the reader's machine to find, and
    # drawn: its glyphs have outlines, they are not the empty boxes of a missing font.
    assert all("/FontFile2" in d.get_object() for d in chinese.values())
    for descriptor in chinese.values():
        subset = TTFont(io.BytesIO(descriptor.get_object()["/FontFile2"].get_data()))
        glyphs = subset["glyf"]
        assert [g for g in subset.getGlyphOrder()[1:] if glyphs[g].numberOfContours > 0]
    assert any("-Bold-" in name for name in chinese)  # headings with Chinese in them are bold
    assert set(fonts) - set(chinese) <= {"/Helvetica", "/Helvetica-Bold"}


def test_the_pdf_export_is_audited_with_its_format(setup: World) -> None:
    client, _, people = setup
    me = people["investigator"]
    case_id = _worked_case(client, me)
    assert client.get(f"/api/v1/cases/{case_id}/file.pdf", headers=me).status_code == 200
    assert client.get(f"/api/v1/cases/{case_id}/file", headers=me).status_code == 200

    audit = client.get(
        "/api/v1/audit", params={"action": "cases.export", "case_id": case_id}, headers=people["auditor"]
    ).json()
    assert sorted((r["detail"]["format"], r["resource"], r["actor"]) for r in audit) == [
        ("html", f"GET /api/v1/cases/{case_id}/file", "inv-1"),
        ("pdf", f"GET /api/v1/cases/{case_id}/file.pdf", "inv-1"),
    ]
    assert all(f"plate:{api.MATE}" in r["subjects"] and r["result_count"] == 2 for r in audit)


@pytest.mark.parametrize(
    ("who", "case", "status", "code"),
    [
        ("dispatcher", "own", 403, "forbidden"),  # a role that does not work investigations
        ("colleague", "own", 403, "not_assigned"),  # an investigator who is not a member
        ("investigator", "C2026-999999", 404, "case_not_found"),
    ],
)
def test_the_pdf_is_refused_exactly_as_the_html_file(
    setup: World, who: str, case: str, status: int, code: str
) -> None:
    client, _, people = setup
    case_id = _open(client, people["investigator"]) if case == "own" else case
    html = client.get(f"/api/v1/cases/{case_id}/file", headers=people[who])
    pdf = client.get(f"/api/v1/cases/{case_id}/file.pdf", headers=people[who])
    assert (pdf.status_code, pdf.json()["error"]["code"]) == (status, code), pdf.text
    assert (pdf.status_code, pdf.json()) == (html.status_code, html.json())

    audit = client.get("/api/v1/audit", params={"action": "cases.export"}, headers=people["auditor"]).json()
    assert all(r["outcome"] == "refused" for r in audit)


def test_without_the_font_the_pdf_is_refused_before_anything_is_exported(
    setup: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, people = setup
    me = people["investigator"]
    case_id = _open(client, me)
    # A deployment that never ran `make assets`: no woff2 chunks. (The route keeps one font per
    # data folder, and this test's platform has a folder of its own, so it reads the empty one.)
    monkeypatch.setattr("safecity.web.api.workbench.FONT_DIR", tmp_path / "no-font")

    answer = client.get(f"/api/v1/cases/{case_id}/file.pdf", headers=me)
    assert (answer.status_code, answer.json()["error"]["code"]) == (503, "font_missing")
    assert "make assets" in answer.json()["error"]["message"]
    audit = client.get("/api/v1/audit", params={"action": "cases.export"}, headers=people["auditor"])
    assert audit.json() == []
