"""The places capability: rental housing, smart communities, shops, their doors and warnings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select

from safecity.core.capabilities import Capability, Service
from safecity.core.worker import Task
from safecity.ingest.settings import IngestSettings
from safecity.places import shop_rule, shop_settings
from safecity.places.doors import Doors
from safecity.places.entities import PLACES_ENTITIES
from safecity.places.facts import FACT_SOURCE
from safecity.places.gate import KIND as UNREGISTERED_VEHICLE
from safecity.places.gate import VEHICLES
from safecity.places.health import DeviceHealth, build_health
from safecity.places.housing import Places
from safecity.places.intrusion import KIND as INTRUSION
from safecity.places.intrusion import ZONES
from safecity.places.models import IdentityCard, Tenancy, VisitorPass, VisitStatus, VisitTask
from safecity.places.prompts import LANDLORDS
from safecity.places.quiet import TenantSwipes
from safecity.places.rules import KINDS as HOUSING_RULE_KINDS
from safecity.places.shop_facts import SHOP_FACTS
from safecity.places.shop_owners import SHOP_OWNERS
from safecity.places.shop_staff import ENDED_SHOP_STAFF, ShopStaffRoster, build_staff
from safecity.places.shops import Shops, build_shops, schedule_worker
from safecity.places.sync import WhitelistPublisher, WhitelistSync
from safecity.places.vehicles import VehicleFacts, Vehicles
from safecity.places.versions import FACT_SOURCE as DOOR_VERSIONS
from safecity.places.visitors import Visitors
from safecity.places.visits import Visits
from safecity.places.zones import ZoneFacts, Zones
from safecity.rules.facts import FactSource
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry


def _places(platform: Any) -> Places:
    return Places(
        platform.session_factory,
        platform.security,
        now=platform.clock.now,
        pseudonymize=platform.pseudonyms.pseudonym,
        raise_findings=platform.handle_findings,
    )


def _visits(platform: Any) -> Visits:
    return Visits(platform.session_factory, platform.security, platform.alerts, now=platform.clock.now)


def _tenant_swipes(platform: Any) -> TenantSwipes:
    return TenantSwipes(
        platform.session_factory,
        platform.security,
        platform.lake,
        now=platform.clock.now,
        pseudonyms=platform.pseudonyms.all_versions,
    )


def _doors(platform: Any) -> Doors:
    return Doors(platform.session_factory, platform.security, now=platform.clock.now, intake=platform.ingest)


def _workers(platform: Any) -> list[Any]:
    """The visit list's follower of housing warnings, and the whitelist worker (over MQTT when the
    platform has a broker, else lists for polling doors only)."""
    visits = platform.service(Visits)
    mqtt = platform.settings.section(IngestSettings)
    publisher = None
    if mqtt.mqtt_url:
        publisher = WhitelistPublisher(
            url=mqtt.mqtt_url, prefix=mqtt.mqtt_topic_prefix, client_id=f"{mqtt.mqtt_client_id}-whitelists"
        )
    return [
        Task("places-visits", lambda: visits.follow(platform.bus)),
        WhitelistSync(platform.service(Doors), platform.hub, publisher),
    ]


def _visitors(platform: Any) -> Visitors:
    return Visitors(
        platform.session_factory,
        platform.security,
        now=platform.clock.now,
        pseudonymize=platform.pseudonyms.pseudonym,
    )


def _zones(platform: Any) -> Zones:
    return Zones(platform.session_factory, platform.security)


def _vehicles(platform: Any) -> Vehicles:
    return Vehicles(platform.session_factory, platform.security, now=platform.clock.now)


def _ended_tenancies(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("ended_tenancies")
    still_recorded = exists(select(Tenancy.id).where(Tenancy.person_id == IdentityCard.person_id))
    return [
        Purgeable("tenancies", Tenancy, Tenancy.checked_out_at < before),
        # A card's details go with the last tenancy that needed them.
        Purgeable("identity_cards", IdentityCard, (IdentityCard.read_at < before) & ~still_recorded),
    ]


def _expired_passes(cut: Cutoff) -> Sequence[Purgeable]:
    return [Purgeable("visitor_passes", VisitorPass, VisitorPass.valid_until < cut("expired_visitor_passes"))]


def _done_visits(cut: Cutoff) -> Sequence[Purgeable]:
    done = (VisitTask.status == VisitStatus.DONE) & (VisitTask.visited_at < cut("done_visits"))
    return [Purgeable("visit_tasks", VisitTask, done)]


ENDED_TENANCIES = RetentionEntry(
    name="ended_tenancies",
    description="Tenancies checked out, counted from then, and identity-card details no tenancy needs.",
    tables=("tenancies", "identity_cards"),
    due=_ended_tenancies,
)
EXPIRED_VISITOR_PASSES = RetentionEntry(
    name="expired_visitor_passes",
    description="Visitor passes, counted from the end of their validity.",
    tables=("visitor_passes",),
    due=_expired_passes,
)
DONE_VISITS = RetentionEntry(
    name="done_visits",
    description="The community officer's visits done, counted from the visit.",
    tables=("visit_tasks",),
    due=_done_visits,
)

# --- shops (issue 10 item 7): use cases, the schedule worker, the breach rule, its facts, owners' texts
SHOP_EXTENSIONS = (
    Service(Shops, build_shops),
    Service(ShopStaffRoster, build_staff),  # issue 10 items 1 and 7: shop staff, cards on the door
    ENDED_SHOP_STAFF,
    shop_rule.KIND,
    SHOP_FACTS,
    SHOP_OWNERS,
    shop_settings.SECTION,
    Service(DeviceHealth, build_health),  # issue 10 item 8: device health
)


def _shop_workers(platform: Any) -> list[Any]:
    """The schedule that arms and disarms shops by their business hours."""
    interval_s = platform.settings.section(shop_settings.ShopSettings).shop_schedule_interval_s
    return [schedule_worker(platform.service(Shops), interval_s)]


def _build(platform: Any) -> list[Any]:
    """Workers of places: the visit list's follower, the whitelists' sync, the shops' schedule."""
    return [*_workers(platform), *_shop_workers(platform)]


CAPABILITY = Capability(
    name="places",
    summary="Rental housing, smart communities and shops: places, their doors, tenants, visitors, warnings.",
    requires=("registry", "alerts", "security"),
    extensions=(
        PLACES_ENTITIES,
        Service(Places, _places),
        Service(Doors, _doors),
        Service(Visitors, _visitors),
        Service(Zones, _zones),
        FactSource(ZONES, ZoneFacts),
        INTRUSION,
        Service(Vehicles, _vehicles),
        FactSource(VEHICLES, VehicleFacts),
        UNREGISTERED_VEHICLE,
        ENDED_TENANCIES,
        EXPIRED_VISITOR_PASSES,
        DONE_VISITS,
        Service(Visits, _visits),
        Service(TenantSwipes, _tenant_swipes),
        FACT_SOURCE,
        DOOR_VERSIONS,
        *HOUSING_RULE_KINDS,
        LANDLORDS,
        *SHOP_EXTENSIONS,
    ),
    build=_build,
)
