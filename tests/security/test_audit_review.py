"""Reading the audit trail: a search and a verification are each recorded in the trail they read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

import safecity.security.models  # noqa: F401  (tables for create_all)
from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.security import audit, audit_review
from safecity.security.audit import AuditEntry, AuditFilter
from safecity.security.keys import load_audit_key, public_key_path
from safecity.security.service import Security

AUDITOR = Context(actor="aud-1", role="auditor", unit="Inspection", city_wide=True)
OFFICER = Context(actor="inv-1", role="investigator", unit="CID")


@pytest.fixture
def security(session_factory: sessionmaker[Session], clock: ManualClock) -> Security:
    """A trail holding two reads of person 7 and one of person 8."""
    security = Security(session_factory, clock, token_key=b"k" * 32)
    for person in (7, 8, 7):
        security.record(OFFICER, AuditEntry("people.read", "GET /p", subjects=[f"person:{person}"]))
    return security


def test_a_search_answers_newest_first_and_is_audited_with_the_subject_searched_for(
    security: Security,
) -> None:
    found = audit_review.search_audit(
        security, AUDITOR, AuditFilter(subject_name="person:7"), resource="GET /audit?s"
    )

    assert [(r.seq, r.actor, r.subjects) for r in found] == [
        (3, "inv-1", ["person:7"]),
        (1, "inv-1", ["person:7"]),
    ]
    with security.session_factory() as session:
        [read] = audit.search(session, AuditFilter(action="audit.read"))
    assert (read.actor, read.resource, read.result_count) == ("aud-1", "GET /audit?s", 2)
    assert json.loads(read.subjects) == ["person:7"]
    # The auditor's own search is now part of what an auditor finds about person 7.
    again = audit_review.search_audit(
        security, AUDITOR, AuditFilter(subject_name="person:7"), resource="GET /audit?s"
    )
    assert [r.action for r in again] == ["audit.read", "people.read", "people.read"]


def test_a_search_without_a_subject_names_none(security: Security) -> None:
    found = audit_review.search_audit(
        security, AUDITOR, AuditFilter(action="people.read", limit=1), resource="GET /audit"
    )

    assert [r.seq for r in found] == [3]
    with security.session_factory() as session:
        [read] = audit.search(session, AuditFilter(action="audit.read"))
    assert (json.loads(read.subjects), read.result_count) == ([], 1)


def test_verification_checks_seals_with_every_public_key_kept_and_is_audited(
    security: Security, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "audit.key"
    key = load_audit_key(key_file, generate=True)
    assert public_key_path(key_file).exists()
    security.audit.seal(key, at=security.now())

    inputs = audit_review.verify_inputs(sorted(key_file.parent.glob("*.pub")), None, journal_required=False)
    report = audit_review.verify_audit(security, AUDITOR, inputs, max_unsealed_s=600, resource="GET /verify")

    assert (report.ok, report.records, report.seals_checked) == (True, 3, 1)
    with security.session_factory() as session:
        [verified] = audit.search(session, AuditFilter(action="audit.verify"))
    assert (verified.actor, verified.result_count) == ("aud-1", 3)
    assert json.loads(verified.detail) == report.as_dict()
