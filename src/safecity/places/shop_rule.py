"""`shop_armed_breach`: a door of an armed shop opens, or its intrusion alarm goes off.

The door controller reports how its door opened (swipe reports and door-state alarms, the
shared contract in docs/ingest.md); an alarm panel reports an intrusion with the zone
(`attrs.zone`) that tripped. Whichever shop a door or zone guards is read from the "shops"
facts; an event counts when the shop was armed at the event's own time, so a report the
controller buffered while offline is judged by the state when it happened (the state's last
change is known; two changes inside one outage are not, and the later one decides). A shop's
zone with armed hours of its own (a strongroom armed round the clock) also counts within them.

A granted swipe says whose card it was, at the swipe's time (`facts.swipes`, `facts.card_holders`): the
owner's, a staff member's (named as the owner gave the name: likely benign, someone forgot to
disarm), a former staff member's, or a card the shop does not know. It still raises the warning:
armed means nobody is expected.

One warning per shop: further openings extend it. Its evidence carries the area of the
reporting device (the shop's community when the device has none), so the alert service routes
it to the station answerable for that area, whose patrol sees it; the owner is texted
(places/shop_owners.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding, Ref
from safecity.core.record import UTC_MS
from safecity.places.models import SHOP
from safecity.places.shop_facts import FORMER_STAFF, NAME, OWNER, STAFF, ShopView
from safecity.rules import ConfiguredRule, Facts, RuleConfig, RuleKind, RuleParams, evidence_by

DOOR = "door"
DOOR_CODES = ["door_forced", "door_held_open", "door_opened_no_swipe"]
INTRUSION_CODES = ["intrusion"]
UNKNOWN = "unknown"  # a swipe by a card neither the owner's nor any staff member's


class ShopBreachParams(RuleParams):
    """A door of an armed shop opening, or its intrusion alarm, raises a warning for the area's patrol."""

    door_codes: list[str] = Field(
        default_factory=lambda: list(DOOR_CODES),
        description="Door-controller alarm codes that mean the door opened.",
    )
    intrusion_codes: list[str] = Field(
        default_factory=lambda: list(INTRUSION_CODES),
        min_length=1,
        description="Alarm-panel codes of an intrusion; `attrs.zone` names the zone.",
    )
    granted_swipes: bool = Field(
        True, description="Whether a granted swipe at an armed shop's door counts (someone forgot to disarm)."
    )


class ShopBreachRule(ConfiguredRule):
    """Join door events and intrusion alarms to the shops they guard; keep those of armed shops."""

    kind = "shop_armed_breach"

    default_title = "Armed shop opened"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: ShopBreachParams = config.typed_params()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """One finding per armed shop that a record of this batch shows opened."""
        if batch.is_empty():
            return []
        p = self.params
        alarm = pl.col("kind") == "alarm"
        door_event = alarm & pl.col("code").is_in(p.door_codes)
        if p.granted_swipes:
            door_event = door_event | ((pl.col("kind") == "door_swipe") & (pl.col("code") == "granted"))
        intrusion = alarm & pl.col("code").is_in(p.intrusion_codes)
        candidates = batch.filter(door_event | intrusion)
        if candidates.is_empty():
            return []
        view: ShopView = facts.source(NAME).view()
        if view.shops.is_empty():
            return []
        at_doors = candidates.filter(door_event).join(view.doors, on="device")
        in_zones = (
            candidates.filter(intrusion)
            .with_columns(zone=pl.col("attrs").str.json_path_match("$.zone"))
            .join(view.zones, on=["device", "zone"])
            .drop("zone")
        )
        hits = pl.concat([at_doors, in_zones], how="diagonal").join(view.shops, on="shop_id")
        changed = pl.col("armed_changed_at").cast(UTC_MS)
        # Armed at the event's time: the state now, or its opposite before its last change.
        armed_then = (
            pl.when(changed.is_null() | (pl.col("ts") >= changed)).then("armed").otherwise(~pl.col("armed"))
        )
        hits = hits.filter(armed_then | _zone_armed(hits, view)).with_columns(
            area=pl.coalesce("area", "community")
        )
        if hits.is_empty():
            return []
        return self._findings(hits, now, _swipers(hits, view))

    def _findings(
        self, hits: pl.DataFrame, now: datetime, swipers: dict[int, list[dict[str, Any]]]
    ) -> list[Finding]:
        about = {
            row["shop_id"]: row
            for row in hits.select(
                "shop_id", "shop_name", "community", "armed_changed_at", "armed_changed_by"
            )
            .unique("shop_id")
            .iter_rows(named=True)
        }
        per_shop = hits.group_by("shop_id").agg(
            pl.col("device").unique().sort().alias("devices"), pl.col("code").unique().sort().alias("codes")
        )
        seen = {r["shop_id"]: r for r in per_shop.iter_rows(named=True)}
        findings = []
        for shop_id, items in evidence_by(hits, "shop_id").items():
            shop, what = about[shop_id], seen[shop_id]
            since = shop["armed_changed_at"]
            swipes = swipers.get(shop_id, [])
            findings.append(
                Finding(
                    rule=self.name,
                    rule_kind=self.kind,
                    severity=self.severity,
                    title=self.title,
                    subject_kind=SHOP,
                    subject=str(shop_id),
                    dedup_key=f"shop-breach:{shop_id}",
                    at=now,
                    evidence=items,
                    facts={
                        "shop": shop["shop_name"],
                        "community": shop["community"],
                        "armed_since": since.isoformat() if since is not None else None,
                        "armed_by": shop["armed_changed_by"],
                        "codes": what["codes"],
                        "doors": what["devices"],
                        "swipes": swipes,
                        "card_holders": sorted({_told(s) for s in swipes}),
                        "staff": sorted({s["name"] for s in swipes if s["holder"] == STAFF}),
                        "unknown_cards": sum(s["holder"] == UNKNOWN for s in swipes),
                        # Every opening a swipe by the owner's or a present staff member's card.
                        "all_by_known_cards": bool(swipes)
                        and len(swipes) == len(items)
                        and all(s["holder"] in (OWNER, STAFF) for s in swipes),
                    },
                    params=self.params_dict,
                    refs=(Ref(SHOP, str(shop_id)), *(Ref(DOOR, d) for d in what["devices"])),
                )
            )
        return findings


def _swipers(hits: pl.DataFrame, view: ShopView) -> dict[int, list[dict[str, Any]]]:
    """Per shop, whose card each granted swipe was at the swipe's time (hits are few: a look at each)."""
    swipes = hits.filter(pl.col("kind") == "door_swipe")
    if swipes.is_empty():
        return {}
    shops = swipes["shop_id"].unique().to_list()
    known: dict[tuple[int, str], list[tuple[Any, ...]]] = defaultdict(list)
    for shop_id, card, *held in view.cards.filter(pl.col("shop_id").is_in(shops)).iter_rows():
        known[(shop_id, card)].append(tuple(held))
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = swipes.sort("ts").select("shop_id", "event_id", "subject", "ts").iter_rows()
    for shop_id, event_id, card, ts in rows:
        holder, name = _holder(known.get((shop_id, card), []), ts)
        found[shop_id].append({"event_id": event_id, "holder": holder, "name": name})
    return found


def _holder(held: list[tuple[Any, ...]], ts: datetime) -> tuple[str, str | None]:
    """The owner, a staff member in post at `ts`, a former one, or unknown; with the name given."""
    if any(holder == OWNER for holder, *_ in held):
        return OWNER, None
    staff = [(name, start, end) for holder, name, start, end in held if holder == STAFF]
    for name, start, end in staff:
        if (start is None or start <= ts) and (end is None or ts < end):
            return STAFF, name
    former = [name for name, _, end in staff if end is not None and end <= ts]
    return (FORMER_STAFF, former[-1]) if former else (UNKNOWN, None)


def _told(swipe: dict[str, Any]) -> str:
    """One line for the patrol: whose card opened the door."""
    holder, name = swipe["holder"], swipe["name"]
    if holder == STAFF:
        return f"card of staff member {name} (likely benign: someone forgot to disarm)"
    if holder == FORMER_STAFF:
        return f"card of former staff member {name} (removed from the staff)"
    if holder == OWNER:
        return "card of the shop's owner"
    return "card unknown to the shop (neither its owner's nor its staff's)"


def _zone_armed(hits: pl.DataFrame, view: ShopView) -> pl.Series:
    """Per hit, whether it came from a zone armed at that time by hours of its own (a strongroom)."""
    if not view.zone_hours:
        return pl.Series([False] * hits.height, dtype=pl.Boolean)
    own = view.zone_hours
    # Intrusions are few: a Python look at each of them costs nothing beside the joins.
    return pl.Series(
        [
            z in own and own[z].covers(ts)
            for z, ts in zip(hits["zone_id"].to_list(), hits["ts"].to_list(), strict=True)
        ],
        dtype=pl.Boolean,
    )


KIND = RuleKind("shop_armed_breach", ShopBreachParams, ShopBreachRule)

__all__ = ["DOOR", "KIND", "ShopBreachParams", "ShopBreachRule"]
