"""Put a generated city, its housing and its smart communities into a platform, once."""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console

from safecity.platform import Platform
from safecity.sim import City, CityAlreadyLoaded, ensure_city, load_city
from safecity.sim.community import make_community
from safecity.sim.community_loader import CommunityAlreadyLoaded, load_community
from safecity.sim.housing import TABLES as HOUSING_TABLES
from safecity.sim.housing import Housing, ensure_housing
from safecity.sim.housing_loader import SECRETS_FILE as HOUSING_SECRETS
from safecity.sim.housing_loader import HousingAlreadyLoaded, load_housing


def city_summary(city: City) -> str:
    """One line about a city."""
    c = city.counts
    return f"city '{city.scale.name}' seed {city.seed}: " + ", ".join(f"{v:,} {k}" for k, v in c.items())


def ensure_loaded(
    platform: Platform, *, seed: int, scale: str, console: Console | None = None, replace: bool = False
) -> City:
    """Generate the city if missing and load it into the registry if the registry is empty."""
    started = time.perf_counter()
    city = ensure_city(platform.settings.city_dir, seed=seed, scale=scale)
    try:
        report = load_city(city, platform.session_factory, pseudonymizer=platform.pseudonyms, replace=replace)
        if console is not None:
            console.print(
                f"loaded {report.bikes:,} bikes, {report.devices:,} stations, "
                f"{report.areas:,} areas into the registry in {time.perf_counter() - started:.1f} s"
            )
    except CityAlreadyLoaded:
        if not city.secrets_path.exists():
            raise
    housing = ensure_housing(city, seed=seed)
    try:
        done = load_housing(
            city,
            housing,
            platform.session_factory,
            pseudonymizer=platform.pseudonyms,
            now=platform.clock.now(),
        )
        if console is not None:
            console.print(
                f"loaded {done.compounds:,} compounds, {done.doors:,} doors, {done.flats:,} flats, "
                f"{done.tenancies:,} tenants into the registry in {done.elapsed_s:.1f} s"
            )
    except HousingAlreadyLoaded:
        if not (housing.folder / HOUSING_SECRETS).exists():
            raise
    _ensure_community(platform, housing, seed=seed, console=console)
    return city


def _ensure_community(platform: Platform, housing: Housing, *, seed: int, console: Console | None) -> None:
    """The smart communities of the housing (panels and zones, gate cameras, residents' cars), once."""
    tables = {name: housing.table(name) for name in HOUSING_TABLES}
    community = make_community(tables, np.random.default_rng(np.random.SeedSequence([seed, 40])))
    try:
        done = load_community(community, platform.session_factory, now=platform.clock.now())
    except CommunityAlreadyLoaded:
        return
    if console is not None:
        console.print(
            f"loaded {done.alarm_zones:,} alarm zones, {done.devices:,} panels and gate cameras, "
            f"{done.vehicles:,} residents' vehicles into the registry"
        )
