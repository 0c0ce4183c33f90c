"""The demo's accounts: one per kind of user, created once with passwords shown once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from rich.console import Console

from safecity import registry
from safecity.driver.trackdemo import DEMO_TRACKER
from safecity.driver.tracking import guardian_person_of
from safecity.places import bulk as places_bulk
from safecity.platform import Platform
from safecity.security import Role, accounts
from safecity.store import transaction


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A seeded demo account and its one-time-shown credentials."""

    username: str
    role: str
    reach: str
    password: str
    totp: bool  # sets up a one-time code at its first sign-in


# One account per kind of user the console serves; reach is "city", "district", "community", "owner"
# (a citizen's own data), "landlord" (the flats of one landlord) or "shop" (one shop's owner).
DEMO_ACCOUNTS: tuple[tuple[str, Role, str, str], ...] = (
    ("dispatcher", Role.DISPATCHER, "city", "Command Centre"),
    ("patrol", Role.PATROL_OFFICER, "district", "Patrol Unit 1"),
    ("community", Role.COMMUNITY_OFFICER, "community", "Community Police Office"),
    ("investigator", Role.INVESTIGATOR, "city", "Criminal Investigation Brigade"),
    ("commander", Role.COMMANDER, "city", "City Police Command"),
    ("reviewer", Role.FACE_REVIEWER, "city", "Image Review Centre"),
    ("auditor", Role.AUDITOR, "city", "Inspection Office"),
    ("admin", Role.ADMINISTRATOR, "city", "Information Technology Office"),
    ("guard", Role.GUARD, "community", "Community Security"),
    ("landlord", Role.LANDLORD, "landlord", "-"),
    ("shopkeeper", Role.SHOP_OWNER, "shop", "-"),
    ("citizen", Role.CITIZEN, "owner", "-"),
    # A guardian: a citizen linked to the guardian of the demo's first elderly wearer (/family).
    ("guardian", Role.CITIZEN, "guardian", "-"),
)

REACH_SHOWN = {
    "city": "whole city",
    "owner": "own data",
    "landlord": "own flats",
    "shop": "own shop",
    "guardian": "own wearer",
}


def seed_demo_accounts(platform: Platform) -> list[DemoAccount]:
    """Create the demo's accounts with random passwords, once; [] if any account exists already."""
    now = platform.security.now()
    created: list[DemoAccount] = []
    guardian = guardian_person_of(platform, DEMO_TRACKER)
    with transaction(platform.session_factory) as session:
        if accounts.count_accounts(session):
            return []
        district = registry.first_area(session, kind="district")
        # Community accounts work where most tenants live: the demo's doors and warnings are there.
        community = places_bulk.busiest_community(session) or registry.first_area(session, kind="community")
        owner = registry.first_owner(session)
        for username, role, reach, unit in DEMO_ACCOUNTS:
            # A shop owner's account is a partner's: it belongs to the shop's community.
            areas = {"district": (district,), "community": (community,), "shop": (community,)}.get(reach, ())
            landlord = None
            if reach == "landlord":  # acts for the landlord letting the most flats in the community
                landlord = (
                    places_bulk.busiest_landlord(session, community_id=community) if community else None
                )
                if landlord is None:
                    continue
            shop = None
            if reach == "shop":  # acts for the owner of a shop in the community
                shop = (
                    places_bulk.first_unclaimed_shop(session, community_id=community) if community else None
                )
                if shop is None:
                    continue
            if (
                None in areas
                or (reach == "owner" and owner is None)
                or (reach == "guardian" and guardian is None)
            ):
                continue
            person = {"owner": owner, "guardian": guardian}.get(reach)
            password = secrets.token_urlsafe(12)
            account = accounts.create_account(
                session,
                accounts.NewAccount(
                    username=username,
                    display_name=username.capitalize(),
                    role=role,
                    unit=unit if person is None else "citizen",
                    password=password,
                    areas=tuple(a for a in areas if a is not None),
                    city_wide=True if reach == "city" else None,
                    person_id=person,
                ),
                by="demo",
                now=now,
            )
            if landlord is not None:
                places_bulk.give_account(session, landlord_id=landlord, account_id=account.id)
            if shop is not None:
                places_bulk.give_shop(session, shop_id=shop, account_id=account.id)
            shown = REACH_SHOWN.get(reach, ", ".join(a for a in areas if a))
            created.append(DemoAccount(username, role.value, shown, password, account.uses_totp))
    return created


def print_demo_accounts(created: list[DemoAccount], console: Console) -> None:
    """Show the seeded credentials once (they are stored only as hashes)."""
    if not created:
        console.print(
            "Demo accounts exist already (their passwords were shown when they were created); "
            "`safecity users reset-password NAME` sets a new one."
        )
        return
    # Plain lines, not a table: a narrow terminal must never cut a password short.
    console.print("[bold]Demo accounts[/bold] (username, role, reach, password):")
    for a in created:
        totp = "  + one-time code, set up at first sign-in" if a.totp else ""
        console.print(
            f"  {a.username:<13} {a.role:<18} {a.reach:<11} password {a.password}{totp}", soft_wrap=True
        )
    console.print(
        "[bold yellow]These passwords are shown only now.[/bold yellow] Accounts with a one-time code "
        "show a QR code and key at their first sign-in: add it to an authenticator app (or "
        "`oathtool --totp -b KEY`); 'dispatcher' and 'patrol' need none."
    )
