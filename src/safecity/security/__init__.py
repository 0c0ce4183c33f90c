"""Security: who may do what, where, under which case; the audit trail; pseudonyms; retention.

This module is the package's public API. Other packages import from here: the `Security`
service and the `Principal` a request signs in as, roles and permissions, the refusals, what an
audit record says, the pseudonymiser, and the settings section. The tables (`security.models`)
are the package's own (an import-linter contract holds them to it).
"""

from safecity.core.audit import AuditEntry, Outcome, subject
from safecity.security.audit import SYSTEM, Actor, AuditFilter, actor_of
from safecity.security.enrolment import Enrolment, EnrolmentRefused
from safecity.security.errors import AccessDenied, AccountError, NotAuthenticated
from safecity.security.principal import AreaCache, AreaTree, Principal
from safecity.security.pseudonym import PSEUDONYMISED_SUBJECT_KINDS, Pseudonymizer
from safecity.security.roles import AccountKind, Permission, Role
from safecity.security.service import Access, Security, SignedIn
from safecity.security.settings import SecuritySettings

__all__ = [
    "PSEUDONYMISED_SUBJECT_KINDS",
    "SYSTEM",
    "Access",
    "AccessDenied",
    "AccountError",
    "AccountKind",
    "Actor",
    "AreaCache",
    "AreaTree",
    "AuditEntry",
    "AuditFilter",
    "Enrolment",
    "EnrolmentRefused",
    "NotAuthenticated",
    "Outcome",
    "Permission",
    "Principal",
    "Pseudonymizer",
    "Role",
    "Security",
    "SecuritySettings",
    "SignedIn",
    "actor_of",
    "subject",
]
