"""What every hazmat rule shares: the fact source, how a warning about a shipment is made, and how
per-shipment state follows the facts when they reload (shipments are renumbered, ids are not)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from safecity.core.finding import Evidence, Finding, Ref
from safecity.rules import ConfiguredRule, Facts
from safecity.tracking.hazmat_facts import NAME, HazmatFacts, HazmatView
from safecity.tracking.hazmat_models import SHIPMENT, SITE

MAX_EVIDENCE = 50  # a warning shows at most this many fixes; counts are in its facts
DEVICE = "device"


def hazmat_of(facts: Facts) -> HazmatFacts:
    """The hazmat fact source (tracking/hazmat_facts.py)."""
    source: HazmatFacts = facts.source(NAME)
    return source


def shipment_facts(shipment: dict[str, Any]) -> dict[str, Any]:
    """The registry facts every shipment warning carries."""
    return {
        "shipment_id": shipment["shipment_id"],
        "un_number": shipment["un_number"],
        "hazard_class": shipment["hazard_class"],
        "quantity_kg": shipment["quantity_kg"],
        "loaded_kg": shipment["loaded_kg"],
        "plate": shipment["plate"],
        "carrier": shipment["carrier"],
        "tracker": shipment["device"],
    }


def route_geojson(view: HazmatView, row: int) -> dict[str, Any]:
    """A watched shipment's planned route as a GeoJSON LineString (evidence of route warnings)."""
    return {"type": "LineString", "coordinates": [list(p) for p in view.routes[row]]}


def carried_rows(old: HazmatView | None, new: HazmatView) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows of shipments watched in both views: (row in the old view, row in the new one)."""
    if old is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    now = {s["shipment_id"]: i for i, s in enumerate(new.shipments)}
    pairs = [(i, now[s["shipment_id"]]) for i, s in enumerate(old.shipments) if s["shipment_id"] in now]
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    was, into = zip(*pairs, strict=True)
    return np.asarray(was, dtype=np.int64), np.asarray(into, dtype=np.int64)


def forget_unwatched(state: dict[int, Any] | set[int], view: HazmatView) -> None:
    """Drop the state of shipments no longer watched (delivered): it would only grow."""
    watched = {s["shipment_id"] for s in view.shipments}
    for sid in [k for k in state if k not in watched]:
        if isinstance(state, dict):
            del state[sid]
        else:
            state.discard(sid)


class HazmatRule(ConfiguredRule):
    """A hazmat rule: its findings are about a shipment (or a site), with the shared shape."""

    def finding(
        self,
        *,
        shipment: dict[str, Any] | None,
        subject_kind: str = SHIPMENT,
        subject: str | None = None,
        dedup_key: str,
        now: datetime,
        items: Sequence[Evidence],
        facts: dict[str, Any],
        refs: Iterable[Ref] = (),
    ) -> Finding:
        """One warning; a shipment's carries its registry facts and references."""
        own: list[Ref] = list(refs)
        values = dict(facts)
        if shipment is not None:
            values = {**shipment_facts(shipment), **values}
            own += [
                Ref(SHIPMENT, str(shipment["shipment_id"])),
                Ref(SITE, str(shipment["consignor_site_id"])),
                Ref(SITE, str(shipment["consignee_site_id"])),
                Ref(DEVICE, str(shipment["device"])),
            ]
            subject = subject or str(shipment["shipment_id"])
        return Finding(
            rule=self.name,
            rule_kind=self.kind,
            severity=self.severity,
            title=self.title,
            subject_kind=subject_kind,
            subject=subject or "",
            dedup_key=dedup_key,
            at=now,
            evidence=tuple(items)[-MAX_EVIDENCE:],
            facts=values,
            params=self.params_dict,
            refs=tuple(sorted(set(own))),
        )


__all__ = [
    "MAX_EVIDENCE",
    "HazmatRule",
    "carried_rows",
    "forget_unwatched",
    "hazmat_of",
    "route_geojson",
    "shipment_facts",
]
