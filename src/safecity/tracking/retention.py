"""How long the tracking capability keeps what it records about people, as retention entries.

Elderly wearers are among the most vulnerable people the platform knows of: their enrolment
(condition notes, safe zones, the consent and who gave it, the guardians' phone numbers) and
their missing-person reports (circumstances, where they were found) are deleted in time, as the
policy says (docs/retention.md):

* `closed_missing_reports`: reports found or withdrawn, counted from the close. An open report is
  never due, however old.
* `ended_wearers`: enrolments ended, counted from the end, with their trackers, guardians,
  consents and safe zones; and guardians removed from an enrolment that goes on, counted from the
  removal. A wearer still named by a missing-person report waits for the report, so this entry
  is kept at least as long as `closed_missing_reports`.

The people themselves are registry persons other records may name; they are not deleted here.
Hazardous-chemical records name companies, sites and vehicles, not people, and are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, select

from safecity.store.retention import Cutoff, Purgeable, RetentionEntry
from safecity.tracking.missing_models import MissingReport, MissingStatus
from safecity.tracking.models import Consent, Guardian, SafeZone, Wearer, WornTracker


def _reports_due(cut: Cutoff) -> ColumnElement[bool]:
    before = cut("closed_missing_reports")
    return (MissingReport.status != MissingStatus.OPEN) & (MissingReport.closed_at < before)


def _closed_missing_reports(cut: Cutoff) -> Sequence[Purgeable]:
    return [Purgeable("missing_reports", MissingReport, _reports_due(cut))]


def _ended_wearers(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("ended_wearers")
    # A report that stays names its wearer; one due in the same run does not hold them (reports
    # go first, and a dry run counts the same rows as the run).
    kept = select(MissingReport.id).where(MissingReport.wearer_id == Wearer.id, ~_reports_due(cut))
    reported = exists(kept)
    due = select(Wearer.id).where(Wearer.ended_at < before, ~reported)
    return [
        Purgeable("worn_trackers", WornTracker, WornTracker.wearer_id.in_(due)),
        Purgeable("guardians", Guardian, Guardian.wearer_id.in_(due) | (Guardian.removed_at < before)),
        Purgeable("wearer_consents", Consent, Consent.wearer_id.in_(due)),
        Purgeable("safe_zones", SafeZone, SafeZone.wearer_id.in_(due)),
        Purgeable("wearers", Wearer, Wearer.id.in_(due)),
    ]


CLOSED_MISSING_REPORTS = RetentionEntry(
    name="closed_missing_reports",
    description="Missing-person reports found or withdrawn, counted from the close.",
    tables=("missing_reports",),
    due=_closed_missing_reports,
)
ENDED_WEARERS = RetentionEntry(
    name="ended_wearers",
    description=(
        "Wearers' enrolments ended, counted from the end, with their trackers, guardians, consents and"
        " safe zones; guardians removed, counted from the removal."
    ),
    tables=("wearers", "worn_trackers", "guardians", "wearer_consents", "safe_zones"),
    due=_ended_wearers,
    at_least=(("closed_missing_reports", "a missing-person report names its wearer"),),
)
EXTENSIONS = (CLOSED_MISSING_REPORTS, ENDED_WEARERS)

__all__ = ["CLOSED_MISSING_REPORTS", "ENDED_WEARERS", "EXTENSIONS"]
