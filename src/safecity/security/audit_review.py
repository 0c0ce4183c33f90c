"""Reading the audit trail as use cases: search it and verify its chain, each reading itself audited.

Who looked at whose data is itself personal: an auditor's search names the subject searched for,
so that the trail shows who asked about a person. The HTTP routes (web/api/cases.py) parse the
filters and return what these give.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from safecity.core.context import Context
from safecity.security import audit
from safecity.security.audit import AuditEntry, AuditFilter, SealEntry, from_us, read_journal
from safecity.security.audit_verify import VerifyReport
from safecity.security.keys import KeyError_, load_public_key
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


@dataclass(frozen=True, slots=True)
class VerifyInputs:
    """What verification checks the database against: the public keys and the seal journal."""

    keys: list[Ed25519PublicKey]
    journal: list[SealEntry] | None


def verify_inputs(key_paths: Sequence[Path], journal: Path | None, *, journal_required: bool) -> VerifyInputs:
    """Read the public keys and the seal journal; ValueError says which file cannot be read and why.

    A journal that is not there is no error unless it was asked for by name (a new deployment,
    or an outside auditor given only a database copy and the public key).
    """
    keys = []
    for path in key_paths:
        try:
            keys.append(load_public_key(path))
        except (OSError, ValueError, KeyError_) as exc:
            raise ValueError(f"the audit public key {path} cannot be read: {exc}") from None
    entries = None
    if journal is not None and (journal_required or journal.exists()):
        try:
            entries = read_journal(journal)
        except OSError as exc:
            raise ValueError(f"the seal journal {journal} cannot be read: {exc}") from None
    return VerifyInputs(keys, entries)


def verify_audit(
    security: Security, ctx: Context, inputs: VerifyInputs, *, max_unsealed_s: float | None, resource: str
) -> VerifyReport:
    """Walk the chain, its index, head, seals and journal; the verification is itself audited.

    Seals made with retired keys are checked too, as long as their public keys are given.
    """
    report = security.audit.verify(
        public_key=inputs.keys or None,
        journal=inputs.journal,
        max_unsealed_s=max_unsealed_s,
        now=security.now(),
    )
    security.record(
        ctx,
        AuditEntry("audit.verify", resource, result_count=report.records, detail=report.as_dict()),
    )
    return report


__all__ = ["VerifyInputs", "audit_view", "search_audit", "verify_audit", "verify_inputs"]
