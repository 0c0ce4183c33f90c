"""Personal identifiers in a record batch become keyed pseudonyms before the batch goes anywhere.

The pipeline calls `pseudonymise` right after validation, so the bus, the rules, the alerts and
the lake only ever see pseudonyms (dead letters keep the raw text the device sent, for the
operator). Every record column that can carry an identity or phone number, and what happens:

* `subject` of a kind whose subject is an identity or phone number (door_swipe, phone_seen):
  its pseudonym under the current key. A face_match subject is the recognition engine's own
  reference (already opaque without the engine's gallery) and is kept, so face watchlists match.
* `event_id`, `corr_id`, `code`, `attrs` of a personal record (`KindSpec.personal`), and those
  plus `subject` of an alarm or a report (what people trigger or write: an SOS, an officer's
  note; an event's subject is free-form): every run of 11 or more digits that is one of the
  batch's identity or phone subjects, or is shaped like an identity number (GB 11643), a
  mainland mobile number or a Chinese IMSI, is replaced by its pseudonym. A door controller that
  builds its event ids from the card it read therefore stores no card number, and ids stay
  unique and `corr` links intact.
* Object sightings (rfid_read, plate_read, tracker_fix, unit_fix) and machine telemetry
  (heartbeat, count) are left alone: their subject is a tag, plate, terminal or the device, and
  their extras are sensor readings (the contract in docs/ingest.md). A batch of them costs a
  look at its kind column: 0.2-0.7 ms per 50,000 records.
* `device` (registered by the police, not by the public), `value`, positions and times carry
  no identifiers.
"""

from __future__ import annotations

import itertools
import operator
from functools import reduce

import polars as pl

from safecity.core.ids import SUBJECT_PATTERNS
from safecity.core.kinds import KIND_SPECS, RecordKind, SubjectKind
from safecity.core.record import kinds_in
from safecity.security import PSEUDONYMISED_SUBJECT_KINDS, Pseudonymizer

# Kinds whose subject is stored as a pseudonym.
PSEUDONYMISED_KINDS: list[str] = [
    k.value for k, s in KIND_SPECS.items() if s.subject_kind in PSEUDONYMISED_SUBJECT_KINDS
]
# Events whose text people write or trigger; heartbeats and counts are machine telemetry.
_EVENT_KINDS = [RecordKind.ALARM.value, RecordKind.REPORT.value]
_SCANNED_KINDS = frozenset(_EVENT_KINDS).union(k.value for k, s in KIND_SPECS.items() if s.personal)
_TEXT_COLUMNS = ("event_id", "corr_id", "code", "attrs")
_ID_MAX_CHARS = 64  # what devices may send, and what alert evidence stores

# A maximal run of digits (an identity number may end in X), long enough to be a phone number.
_DIGIT_RUN = r"[0-9]{11,}[Xx]?"
_ID_NUMBER = SUBJECT_PATTERNS[SubjectKind.ID_CARD].strip("^$")
_SHAPED = rf"^(?:{_ID_NUMBER}|1[3-9][0-9]{{9}}|46[01][0-9]{{12}})$"


def pseudonymise(records: pl.DataFrame, pseudonymizer: Pseudonymizer) -> pl.DataFrame:
    """The batch with every personal identifier replaced by its pseudonym (row order kept)."""
    kinds = records["kind"]
    # The kinds present first, so that a batch without scanned kinds costs well under a
    # millisecond per 50,000 records.
    distinct = kinds_in(kinds)
    present = _SCANNED_KINDS.intersection(distinct)
    if not present:
        return records
    scanned = reduce(operator.or_, (kinds == k for k in present))
    whole = len(present) == len(distinct)
    sub = records if whole else records.filter(scanned)
    changed = _pseudonymised_columns(sub, pseudonymizer)
    if not changed:  # e.g. heartbeats among station reads
        return records
    if whole:
        return records.with_columns(values.alias(c) for c, values in changed.items())
    rows = scanned.arg_true()
    return records.with_columns(records[c].scatter(rows, values) for c, values in changed.items())


def _pseudonymised_columns(sub: pl.DataFrame, pseudonymizer: Pseudonymizer) -> dict[str, pl.Series]:
    """New values of the columns that change, for records that are all scanned."""
    subject = sub["subject"]
    personal = sub["kind"].is_in(PSEUDONYMISED_KINDS)
    events = sub["kind"].is_in(_EVENT_KINDS)
    changed: dict[str, pl.Series] = {}
    known: dict[str, str] = {}  # the batch's identity and phone subjects, each hashed once
    own: pl.Series | None = None
    if personal.any():
        numbers = subject.filter(personal).unique()
        pseudonyms = pl.Series(pseudonymizer.many(numbers.to_list()), dtype=pl.String)
        known = dict(zip(numbers.to_list(), pseudonyms.to_list(), strict=True))
        own = subject.replace_strict(numbers, pseudonyms, default=None)
    # An event's subject is free-form text too (a sighting's is an identifier, handled above).
    texts = {c: sub[c] for c in _TEXT_COLUMNS} | {"subject": subject.set(~events, None)}
    texts = {c: text for c, text in texts.items() if text.null_count() < text.len()}
    mapping = _number_pseudonyms(list(texts.values()), known, pseudonymizer)
    if mapping:
        # One automaton over the texts stacked: building it costs as much as scanning 50,000 ids.
        stacked = pl.concat(list(texts.values())).str.replace_many(
            list(mapping), list(mapping.values()), leftmost=True
        )
        starts = itertools.accumulate((t.len() for t in texts.values()), initial=0)
        changed = {
            c: stacked.slice(start, t.len()) for (c, t), start in zip(texts.items(), starts, strict=False)
        }
        for c in ("event_id", "corr_id"):
            if c in changed:
                changed[c] = _fit_id(texts[c], changed[c], pseudonymizer)
        if "subject" in changed:
            changed["subject"] = changed["subject"].zip_with(events, subject)
    if own is not None:
        changed["subject"] = own.zip_with(personal, changed.get("subject", subject))
    return changed


def _number_pseudonyms(
    texts: list[pl.Series], known: dict[str, str], pseudonymizer: Pseudonymizer
) -> dict[str, str]:
    """Digit runs in the texts that are personal numbers, each mapped to its pseudonym."""
    runs = pl.concat([t.str.extract_all(_DIGIT_RUN).explode() for t in texts]).drop_nulls().unique()
    if runs.is_empty():
        return {}
    # A trailing x is the same identity number as X (the registry and validation use X).
    upper = runs.str.to_uppercase()
    wanted = upper.str.contains(_SHAPED) | upper.is_in(pl.Series(list(known), dtype=pl.String).implode())
    numbers = runs.filter(wanted).to_list()
    new = sorted({n.upper() for n in numbers} - known.keys())
    known = known | dict(zip(new, pseudonymizer.many(new), strict=True))
    return {n: known[n.upper()] for n in numbers}


def _fit_id(before: pl.Series, after: pl.Series, pseudonymizer: Pseudonymizer) -> pl.Series:
    """Ids that grew past 64 characters become the pseudonym of the whole id (still unique, and
    the same for an event id and a `corr` quoting it)."""
    long = (after.str.len_chars() > _ID_MAX_CHARS).fill_null(False)
    if not long.any():
        return after
    return pseudonymizer.column(before.set(~long, None)).zip_with(long, after)
