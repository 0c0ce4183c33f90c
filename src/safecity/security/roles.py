"""The one declared table of who may do what: roles, permissions and how far each role reaches.

Every route names one `Permission`; `ROLE_PERMISSIONS` is the only place that says which roles
hold it. Area scope (district, station area, community) is a property of the account, not of
the role: an officer sees their own area unless an administrator grants more (`city_wide`, or
extra areas). A new capability adds permissions here and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum


class AccountKind(StrEnum):
    """Who an account belongs to: police staff, a partner organisation, or a member of the public."""

    STAFF = "staff"
    PARTNER = "partner"
    CITIZEN = "citizen"


class Role(StrEnum):
    """What an account is for; one role per account (a person with two jobs has two accounts)."""

    PATROL_OFFICER = "patrol_officer"
    COMMUNITY_OFFICER = "community_officer"
    DISPATCHER = "dispatcher"
    INVESTIGATOR = "investigator"
    COMMANDER = "commander"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"
    LANDLORD = "landlord"
    GUARD = "guard"
    COMMITTEE_WORKER = "committee_worker"
    LIAISON = "liaison"
    CITIZEN = "citizen"
    SHOP_OWNER = "shop_owner"
    FACE_REVIEWER = "face_reviewer"  # trained to compare faces: confirms or rejects face hits


class Permission(StrEnum):
    """One thing a route lets its caller do."""

    AREAS_READ = "areas.read"  # the city map, areas, stations
    AREAS_MANAGE = "areas.manage"  # import the city's districts, station areas and communities
    ALERTS_READ = "alerts.read"  # alerts of the caller's areas, their evidence, the live stream
    ALERTS_ACT = "alerts.act"  # acknowledge, dispatch, close
    ALERTS_ACKNOWLEDGE = "alerts.acknowledge"  # take a warning on (partners who neither dispatch nor close)
    COMMUNITY_WATCH = (
        "community.watch"  # the phone view of a community's warnings (guards, committee, officer)
    )
    ALERTS_EXPORT = "alerts.export"  # CAP export, precision reports
    WEBHOOKS_MANAGE = "webhooks.manage"
    BIKES_READ = "bikes.read"  # bike records; the owner only under a case
    BIKES_REGISTER = "bikes.register"
    WATCHLIST_READ = "watchlist.read"
    WATCHLIST_WRITE = "watchlist.write"  # report stolen, mark recovered or withdrawn
    DEVICES_READ = "devices.read"
    DEVICES_MANAGE = "devices.manage"  # register, rotate and revoke device secrets
    PEOPLE_READ = "people.read"  # who a person is: always under a case and purpose
    PEOPLE_VERIFY = "people.verify"  # confirm a claim about a person who shows their identity card
    SUBJECTS_TRACE = "subjects.trace"  # where a subject has been: always under a case and purpose
    CATALOGUE_READ = "catalogue.read"  # the data catalogue: the pool's sources and their figures, no records
    CASES_READ = "cases.read"
    CASES_MANAGE = "cases.manage"  # open, assign, close
    AUDIT_READ = "audit.read"  # who looked at whom
    AUDIT_VERIFY = "audit.verify"
    USERS_MANAGE = "users.manage"
    OPERATIONS_READ = "operations.read"  # ingest reconciliation, dead letters
    PLACES_READ = "places.read"  # compounds, buildings, flats and their occupancy (no persons)
    PLACES_MANAGE = "places.manage"  # register compounds, buildings, flats, landlords and doors
    TENANTS_REGISTER = "tenants.register"  # register and check out tenants (a landlord: own flats only)
    TENANTS_READ = "tenants.read"  # who lives in a flat (a landlord: own flats; officers: their areas)
    VISITS_WORK = "visits.work"  # the community officer's visit list and its outcomes
    VISITORS_REGISTER = "visitors.register"  # visitor passes the doors honour; residents' vehicles
    SHOPS_ARM = "shops.arm"  # arm and disarm one's own shop
    SHOPS_STAFF = "shops.staff"  # the staff of a shop whose cards open its door (an owner: own shops only)
    WEARERS_READ = "wearers.read"  # elderly locators' wearers of the caller's areas, zones, guardians
    WEARERS_MANAGE = "wearers.manage"  # enrol wearers, record consent, set guardians and safe zones
    WEARERS_GUARD = "wearers.guard"  # a guardian's own wearers (a citizen account linked to the guardian)
    MISSING_REPORT = "missing.report"  # report a wearer in reach missing, follow and close the search
    HAZMAT_READ = "hazmat.read"  # dangerous-goods products, sites, stock, shipments and zones
    HAZMAT_MANAGE = "hazmat.manage"  # register them, record stock, plan, load and deliver shipments
    CHECKPOINT_WORK = "checkpoint.work"  # the checkpoint view: plate hits, their images, each stop's outcome
    FACES_ENROL = "faces.enrol"  # enrol a fugitive's or missing person's face from photos (a watchlist entry)
    FACES_REVIEW = "faces.review"  # the face review queue: compare, confirm or reject; the precision report
    DISPATCH_READ = "dispatch.read"  # incidents, units, orders and the road network of the caller's areas
    DISPATCH_CALLS = "dispatch.calls"  # take a 110 call or report an incident from a handset
    DISPATCH_ORDER = "dispatch.order"  # send orders (派单), merge and close incidents, set a unit's status
    ORDERS_HANDSET = "orders.handset"  # sign on to a unit; accept, update and report on its orders
    UNITS_MANAGE = "units.manage"  # register units: call sign, kind, department, station, shift
    SELF_READ = "self.read"  # one's own account, bikes and who accessed one's data
    SELF_LINK = "self.link"  # link one's citizen account to one's registry record (by their code)


P = Permission
_OFFICER = frozenset(
    {
        P.SELF_READ,
        P.AREAS_READ,
        P.ALERTS_READ,
        P.ALERTS_ACT,
        P.ALERTS_ACKNOWLEDGE,
        P.BIKES_READ,
        P.WATCHLIST_READ,
        P.PLACES_READ,
        P.WEARERS_READ,
        P.MISSING_REPORT,
        P.HAZMAT_READ,
        P.DISPATCH_READ,
        P.DISPATCH_CALLS,
    }
)
# Who works orders: the officers sent out on units (their handsets), and the desks that dispatch.
_ORDERS = frozenset({P.ORDERS_HANDSET})
_INVESTIGATION = frozenset(
    {
        P.PEOPLE_READ,
        P.SUBJECTS_TRACE,
        P.CASES_READ,
        P.CASES_MANAGE,
        P.WATCHLIST_WRITE,
        P.ALERTS_EXPORT,
        P.CATALOGUE_READ,
        P.FACES_ENROL,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # The checkpoint view is the work of the officers on the road (and of commanders).
    Role.PATROL_OFFICER: _OFFICER | _ORDERS | {P.DEVICES_READ, P.CHECKPOINT_WORK},
    Role.COMMUNITY_OFFICER: _OFFICER
    | _ORDERS
    | {
        P.DEVICES_READ,
        P.BIKES_REGISTER,
        P.WATCHLIST_WRITE,
        P.CASES_READ,
        P.PEOPLE_VERIFY,
        P.PLACES_MANAGE,
        P.TENANTS_REGISTER,
        P.TENANTS_READ,
        P.VISITS_WORK,
        P.VISITORS_REGISTER,
        P.COMMUNITY_WATCH,
        P.SHOPS_STAFF,
        P.WEARERS_MANAGE,
        P.HAZMAT_MANAGE,
    },
    Role.DISPATCHER: _OFFICER | _ORDERS | {P.DEVICES_READ, P.ALERTS_EXPORT, P.DISPATCH_ORDER},
    Role.INVESTIGATOR: _OFFICER | _INVESTIGATION | {P.DEVICES_READ, P.BIKES_REGISTER, P.PEOPLE_VERIFY},
    Role.COMMANDER: _OFFICER
    | _ORDERS
    | _INVESTIGATION
    | {
        P.DEVICES_READ,
        P.WEBHOOKS_MANAGE,
        P.OPERATIONS_READ,
        P.DISPATCH_ORDER,
        P.UNITS_MANAGE,
        P.FACES_REVIEW,
        P.CHECKPOINT_WORK,
    },
    Role.AUDITOR: frozenset(
        {P.SELF_READ, P.AREAS_READ, P.AUDIT_READ, P.AUDIT_VERIFY, P.CASES_READ, P.CATALOGUE_READ}
    ),
    Role.ADMINISTRATOR: frozenset(
        {
            P.SELF_READ,
            P.AREAS_READ,
            P.USERS_MANAGE,
            P.AREAS_MANAGE,
            P.PLACES_MANAGE,
            P.HAZMAT_READ,
            P.HAZMAT_MANAGE,
            P.DEVICES_READ,
            P.DEVICES_MANAGE,
            # Not webhooks: a webhook delivers what its owner may read, and administrators read no alerts.
            P.OPERATIONS_READ,
            P.AUDIT_VERIFY,
            P.CATALOGUE_READ,
        }
    ),
    # Partners see only what their job needs: a landlord their own flats and tenants, a guard and a
    # committee worker their community, a shop owner their shop.
    Role.LANDLORD: frozenset({P.SELF_READ, P.TENANTS_REGISTER, P.TENANTS_READ}),
    Role.GUARD: frozenset(
        {
            P.SELF_READ,
            P.AREAS_READ,
            P.ALERTS_READ,
            P.ALERTS_ACT,
            P.ALERTS_ACKNOWLEDGE,
            P.COMMUNITY_WATCH,
            P.PLACES_READ,
            P.VISITORS_REGISTER,
        }
    ),
    Role.COMMITTEE_WORKER: frozenset(
        {
            P.SELF_READ,
            P.AREAS_READ,
            P.ALERTS_READ,
            P.ALERTS_ACKNOWLEDGE,
            P.COMMUNITY_WATCH,
            P.BIKES_REGISTER,
            P.PLACES_READ,
            P.VISITORS_REGISTER,
        }
    ),
    Role.LIAISON: frozenset({P.SELF_READ}),
    Role.CITIZEN: frozenset(
        {P.SELF_READ, P.SELF_LINK, P.VISITORS_REGISTER, P.WEARERS_GUARD, P.MISSING_REPORT}
    ),
    Role.SHOP_OWNER: frozenset({P.SELF_READ, P.SHOPS_ARM, P.SHOPS_STAFF}),
    # Face hits reach nobody before a person trained to compare faces has confirmed them.
    Role.FACE_REVIEWER: frozenset({P.SELF_READ, P.AREAS_READ, P.FACES_REVIEW}),
}

ROLE_KIND: dict[Role, AccountKind] = {
    **dict.fromkeys(list(Role)[:7], AccountKind.STAFF),
    Role.LANDLORD: AccountKind.PARTNER,
    Role.GUARD: AccountKind.PARTNER,
    Role.COMMITTEE_WORKER: AccountKind.PARTNER,
    Role.LIAISON: AccountKind.PARTNER,
    Role.CITIZEN: AccountKind.CITIZEN,
    Role.SHOP_OWNER: AccountKind.PARTNER,
    Role.FACE_REVIEWER: AccountKind.STAFF,
}

# A second factor is required for the roles that can reach the most about people or the system.
TOTP_REQUIRED: frozenset[Role] = frozenset(
    {Role.INVESTIGATOR, Role.COMMANDER, Role.ADMINISTRATOR, Role.FACE_REVIEWER}
)

# Roles whose work needs identity and phone numbers in full (under a case); everyone else sees masks.
FULL_IDENTIFIERS: frozenset[Role] = frozenset({Role.INVESTIGATOR, Role.COMMANDER})

# Roles that reach the whole city by default; the rest reach only the areas on their account.
CITY_WIDE: frozenset[Role] = frozenset({Role.AUDITOR, Role.ADMINISTRATOR})


def permissions_of(role: Role) -> frozenset[Permission]:
    """What a role may do."""
    return ROLE_PERMISSIONS[role]


def roles_with(permission: Permission) -> frozenset[Role]:
    """Which roles hold a permission (for the matrix test and the docs)."""
    return frozenset(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)


__all__ = [
    "CITY_WIDE",
    "FULL_IDENTIFIERS",
    "ROLE_KIND",
    "ROLE_PERMISSIONS",
    "TOTP_REQUIRED",
    "AccountKind",
    "Permission",
    "Role",
    "permissions_of",
    "roles_with",
]
