"""Reading the audit trail as use cases: search it and verify its chain, each reading itself audited.

Who looked at whose data is itself personal: an auditor's search names the subject searched for,
so that the trail shows who asked about a person. The HTTP routes (web/api/cases.py) parse the
filters and return what these give.
"""

from __future__ import annotations

import json
from pathlib import Path

from safecity.core.context import Context
from safecity.security import audit
from safecity.security.audit import AuditEntry, AuditFilter, VerifyReport, from_us
from safecity.security.keys import load_public_key
from safecity.security.models import AuditRecord
from safecity.security.schemas import AuditOut
from safecity.security.service import Security


def audit_view(record: AuditRecord) -> AuditOut:
    """An audit record with its JSON fields decoded."""
    return AuditOut(
        seq=record.seq,
        at=from_us(record.at_us),
        actor=record.actor,
        role=record.role,
        unit=record.unit,
        action=record.action,
        resource=record.resource,
        outcome=record.outcome,
        status=record.status,
        case_id=record.case_id,
        purpose=record.purpose,
        subjects=json.loads(record.subjects),
        result_count=record.result_count,
        detail=json.loads(record.detail),
        client=record.client,
        hash=record.hash,
    )


def search_audit(security: Security, ctx: Context, where: AuditFilter, *, resource: str) -> list[AuditOut]:
    """Records matching the filter, newest first; the search is audited with its subject."""
    with security.session_factory() as session:
        out = [audit_view(r) for r in audit.search(session, where)]
    security.record(
        ctx,
        AuditEntry(
            "audit.read",
            resource,
            subjects=[where.subject_name] if where.subject_name else [],
            result_count=len(out),
        ),
    )
    return out


def verify_audit(security: Security, ctx: Context, *, key_dir: Path, resource: str) -> VerifyReport:
    """Walk the chain and check its head and seals with every public key (*.pub) in `key_dir`, audited.

    Seals made with retired keys are checked too, as long as their public keys are kept there.
    """
    keys = [load_public_key(p) for p in sorted(key_dir.glob("*.pub"))]
    report = security.audit.verify(public_key=keys or None)
    security.record(
        ctx,
        AuditEntry("audit.verify", resource, result_count=report.records, detail=report.as_dict()),
    )
    return report


__all__ = ["audit_view", "search_audit", "verify_audit"]
