"""Investigation: the person-level questions, each asked under a case, bounded by it, and audited.

Who a registered person is, and where a subject has been. The HTTP API (and later the command
line and the investigation workbench) call these use cases; each one justifies the question
against the caller's case before it reads anything and leaves one audit record after.
"""

from safecity.investigation.service import Investigation, PersonRecord, SubjectPath

__all__ = ["Investigation", "PersonRecord", "SubjectPath"]
