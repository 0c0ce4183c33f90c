"""`housing_many_compounds`: one card entering many compounds in one local day (a lent or cloned
card, or someone casing places).

A card's compounds of a day are its home compound (the compound of the first flat the places
registry has it living in), if it entered it, plus every other compound it entered. Entries at
home, nearly all swipes, only mark the card's day in an array indexed by its card row; the few
entries elsewhere are kept with their evidence and counted in the same batch. Keeping every
(card, day, compound) with its evidence cost more than all the other rules together at
Wenzhou scale (1 s per million swipes), for the rare cards that matter.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
from pydantic import Field

from safecity.core.finding import Finding, Ref
from safecity.places.facts import PlaceView
from safecity.places.models import COMPOUND
from safecity.places.rules.common import CARD, HousingRule, evidence, local_clock, place_refs, places_of
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.rules.base import EVIDENCE_COLUMNS

_KEY = ["card_h", "day", "compound_code"]
_ONE_DAY = timedelta(days=1)
_EPOCH = date(1970, 1, 1)


class ManyCompoundsParams(RuleParams):
    """One card let into many different compounds in one local day."""

    compounds: int = Field(4, ge=2, le=100, description="Distinct compounds in one day that make a warning.")
    timezone: str = Field("Asia/Shanghai", description="Where a day begins and ends (IANA name).")


class ManyCompoundsRule(HousingRule):
    """Counts each card's distinct compounds per local day; warns once per card and day, again if it grows."""

    kind = "housing_many_compounds"
    default_title = "One card entering many compounds in a day"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: ManyCompoundsParams = config.typed_params()
        self._view: PlaceView | None = None
        self._home_day = np.zeros(0, dtype=np.int32)  # by card row: the latest local day it entered home
        self._away: pl.DataFrame | None = (
            None  # entries outside the card's home: first per (card, day, compound)
        )
        self._reported: dict[tuple[int, date], int] = {}  # (card hash, day) -> compounds warned of

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Mark home entries; keep and count entries elsewhere."""
        if batch.is_empty():
            return []
        places = places_of(facts)
        swipes, view = places.enriched(batch)
        if swipes.is_empty():
            return []
        self._follow(view)
        day, _ = local_clock(swipes["ts"], self.params.timezone)
        days = day.cast(pl.Int32).to_numpy()
        compound = swipes["compound_code"].fill_null(-1).to_numpy()
        row = swipes["card_row"].to_numpy()
        home = swipes["home_compound_code"].to_numpy()
        entered = swipes["granted"].to_numpy() & (compound >= 0) & swipes["subject"].is_not_null().to_numpy()
        at_home = entered & (compound == home)
        np.maximum.at(self._home_day, row[at_home], days[at_home])
        away = np.flatnonzero(entered & ~at_home)
        if not away.size:
            return []
        rows = swipes[away].select("card_h", "card_row", "compound_code", "compound_id", *EVIDENCE_COLUMNS)
        self._keep(rows.with_columns(day[away]))
        return self._count(rows["card_h"].unique(), view, now)

    def _keep(self, rows: pl.DataFrame) -> None:
        """Add entries elsewhere (the first per card, day and compound); drop days before yesterday."""
        away = rows if self._away is None else pl.concat([self._away, rows], how="vertical_relaxed")
        away = away.sort("ts").unique(_KEY, keep="first", maintain_order=True)
        # Yesterday stays for entries reported late by an offline controller; older days are done.
        self._away = away.filter(pl.col("day") >= pl.col("day").max() - _ONE_DAY)

    def _count(self, cards: pl.Series, view: PlaceView, now: datetime) -> list[Finding]:
        """Warn for each of these cards whose compounds of a day (home included) reached the count."""
        assert self._away is not None
        touched = self._away.filter(pl.col("card_h").is_in(cards.implode()))
        findings = []
        for (card_h, day), group in touched.group_by("card_h", "day"):
            row = int(group["card_row"][0])
            home = None
            if row >= 0 and self._home_day[row] == (day - _EPOCH).days:
                home = int(view.card_homes["compound_code"][row])
            count = group.height + (home is not None)
            if count < self.params.compounds or self._reported.get((card_h, day), 0) >= count:
                continue
            self._reported[(card_h, day)] = count
            findings.append(self._finding(group, day, _compound_of(view, home), now))
        newest = self._away["day"].max()
        if isinstance(newest, date):
            self._reported = {k: v for k, v in self._reported.items() if k[1] >= newest - _ONE_DAY}
        return findings

    def _finding(self, group: pl.DataFrame, day: date, home: str | None, now: datetime) -> Finding:
        card = str(group["subject"][0])
        away = sorted(set(group["compound_id"].to_list()))
        compounds = sorted({*away, home} if home is not None else away)
        refs = {*place_refs(group.select("device", "compound_id")), *([Ref(COMPOUND, home)] if home else [])}
        return self.finding(
            subject_kind=CARD,
            subject=card,
            dedup_key=f"roaming:{card}:{day}",
            now=now,
            items=evidence(group),
            facts={
                "card": card,
                "day": str(day),
                "compounds": compounds,
                "compound_count": len(compounds),
                "home_compound": home,  # entered that day too; its entries are not kept as evidence
                "entered_away": away,
            },
            refs=refs,
        )

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Nothing waits for a tick: entries are counted as they come."""
        return []

    def _follow(self, view: PlaceView) -> None:
        """Carry the home days over to a reloaded view (card rows are renumbered; hashes are not)."""
        if view is self._view:
            return
        days = np.full(len(view.card_index), -1, dtype=np.int32)
        if self._view is not None and self._home_day.size:
            moved = view.card_index.find(self._view.card_index.keys())
            days[moved[moved >= 0]] = self._home_day[moved >= 0]
        if self._away is not None:  # rows of kept entries follow too
            rows = view.card_index.find(self._away["card_h"].to_numpy())
            self._away = self._away.with_columns(pl.Series("card_row", rows, dtype=pl.Int64))
        self._view, self._home_day = view, days


def _compound_of(view: PlaceView, code: int | None) -> str | None:
    """The compound id of a compound code (None for none)."""
    if code is None:
        return None
    found = view.buildings.filter(pl.col("compound_code") == code)["compound_id"]
    return str(found[0]) if found.len() else None


MANY_COMPOUNDS = RuleKind(ManyCompoundsRule.kind, ManyCompoundsParams, ManyCompoundsRule)
