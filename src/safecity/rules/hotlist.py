"""`hotlist`: a listed subject (a stolen bike's tag) seen anywhere raises or extends a warning."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from pydantic import Field, field_validator

from safecity.core.finding import Evidence, Finding, SubjectFacts
from safecity.rules.base import ConfiguredRule, Facts, evidence_by
from safecity.rules.config import RuleConfig, RuleParams, known_record_kinds
from safecity.rules.kinds import RuleKind

NO_FACTS = SubjectFacts()


class HotlistParams(RuleParams):
    """A listed subject seen anywhere."""

    lists: list[str] = Field(
        default_factory=lambda: ["stolen_bike"], min_length=1, description="Watchlist kinds to match against."
    )
    record_kinds: list[str] = Field(
        default_factory=lambda: ["rfid_read"], min_length=1, description="Sighting kinds that can match."
    )

    place_facts: str | None = Field(
        None,
        description="A fact source (rules.facts.FactSource) whose `device_facts(devices)` says where each "
        "device stands: its facts and refs join the warning's (`places`: a door's compound and building).",
    )

    _known = field_validator("record_kinds")(known_record_kinds)


class HotlistRule(ConfiguredRule):
    """Join each batch against the watchlist; one finding per listed entry seen."""

    kind = "hotlist"

    default_title = "Listed subject seen"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: HotlistParams = config.typed_params()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Match sightings against entries in force at the sighting's own time."""
        watch = facts.watchlist(now)
        if watch.is_empty() or batch.is_empty():
            return []
        watch = watch.filter(pl.col("list_kind").is_in(self.params.lists))
        candidates = batch.filter(
            pl.col("kind").is_in(self.params.record_kinds)
            & pl.col("subject").is_in(watch["subject"].implode())
        )
        if candidates.is_empty():
            return []
        # A read from before the theft was reported is not an alarm (a late upload, say).
        hits = candidates.join(watch, on=["subject_kind", "subject"]).filter(
            (pl.col("ts") >= pl.col("valid_from")) & (pl.col("ts") < pl.col("valid_until"))
        )
        if hits.is_empty():
            return []
        evidence = evidence_by(hits, "entry_id")
        registry_facts = facts.entry_facts(list(evidence))
        meta = {
            e: (lk, sk)
            for e, lk, sk in hits.select("entry_id", "list_kind", "subject_kind").unique().iter_rows()
        }
        params = self.params_dict
        places: dict[str, SubjectFacts] = {}
        if self.params.place_facts is not None:
            places = facts.source(self.params.place_facts).device_facts(hits["device"].unique().to_list())
        findings = []
        for entry_id, items in evidence.items():
            about = _with_places(registry_facts.get(int(entry_id), NO_FACTS), items, places)
            findings.append(
                Finding(
                    rule=self.name,
                    rule_kind=self.kind,
                    severity=self.severity,
                    title=self.title,
                    subject_kind=meta[entry_id][1],
                    subject=str(items[0].subject),
                    dedup_key=f"{meta[entry_id][0]}:{entry_id}",
                    at=now,
                    evidence=items,
                    facts=about.values,
                    params=params,
                    refs=about.refs,
                )
            )
        return findings


def _with_places(
    about: SubjectFacts, items: tuple[Evidence, ...], places: dict[str, SubjectFacts]
) -> SubjectFacts:
    """The entry's facts with where its sightings were made, when a place fact source knows."""
    seen = [places[d] for d in dict.fromkeys(e.device for e in items) if d in places]
    if not seen:
        return about
    refs = tuple(sorted({*about.refs, *(r for p in seen for r in p.refs)}))
    return SubjectFacts({**about.values, "places": [p.values for p in seen]}, refs)


KIND = RuleKind("hotlist", HotlistParams, HotlistRule)
