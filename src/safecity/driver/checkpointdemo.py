"""The demo's checkpoints and face cameras (issue 14): a wanted car, a fugitive and a lost grandmother.

Planted once, when the demo first starts (`prepare_checkpoints`): the city's camera sites
(sim.checkpoints: a checkpoint on each side of the city, face cameras at the railway station,
the metro, the airport and two tourist sites) registered as devices; `LISTED_PLATE` put on the
wanted-vehicle list through `Registry.list_plate`; the fugitive (a sample photograph: scikit-
image's NASA portrait of Eileen Collins, nobody wanted) enrolled through `Enrolments.enrol`; a
missing-person case opened by the demo's `investigator` over the railway station's district; and
the grandmother's sightings of the last five hours (Grace Hopper's portrait, augmented, at the
railway station, two metro stations and the islet) posted with their past times, so that her
photo searched under the case finds them.

Then, live (`DemoCheckpoints.live`), the cameras post what they capture as the city runs, through
`Intake.keep` and `announce` as a camera's HTTP post would: vehicles at the checkpoints, people
at the face cameras, the listed plate passing a checkpoint at the start and every
`LISTED_EVERY_REAL` of real time, the fugitive at the first metro camera every
`FUGITIVE_EVERY_REAL`, and the cloned plate at two checkpoints across the city once a plan.
The routine rates are set in real time, whatever the demo's speed: the demo machine has two
cores and one reader process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from safecity import registry
from safecity.core.context import SYSTEM, Context
from safecity.core.errors import DomainError
from safecity.platform import Platform
from safecity.recognition.enrol import Enrolments, NewEnrolment
from safecity.recognition.intake import Accepted, Capture, Intake
from safecity.registry.actions import PlateListing
from safecity.registry.events import changed
from safecity.security import accounts, case_admin
from safecity.sim.checkpoints import (
    LISTED_PLATE,
    CameraSite,
    Shot,
    ShotImages,
    camera_sites,
    grandmother_sightings,
    plan_checkpoints,
)
from safecity.sim.city import City
from safecity.sim.face_images import astronaut
from safecity.sim.face_images import encode as encode_face
from safecity.sim.tracknet import pace
from safecity.store import transaction

log = structlog.get_logger(__name__)

INVESTIGATOR = "investigator"  # the demo account that lists the car, enrols the fugitive, opens the case
WANTED_BASIS = "温公刑(2026)207号 网上布控 (wanted in a fraud case)"
FUGITIVE_BASIS = "温公刑(2026)118号 网上追逃 (warrant)"
FUGITIVE_LABEL = (
    "在逃人员 温公刑(2026)118号: 演示样例照片 (a sample photograph: NASA's portrait of astronaut "
    "Eileen Collins from scikit-image; nobody wanted)"
)
CASE_TITLE = "走失老人 (missing grandmother, reported by her son)"
CASE_BASIS = "走失报案 温公(2026)走失031号: 78岁女性, 早晨离家未归 (left home this morning)"
# Real-time rates: at 30x one checkpoint sees a vehicle every 20 simulated minutes, which is a
# sample of a checkpoint's traffic, not all of it; together about 35 images a real minute
# (measured: 36 ms to render one, 43 ms to read a plate crop, 150 ms a face frame).
PASSES_PER_REAL_MINUTE = 1.5  # vehicles past each checkpoint
GROUPS_PER_REAL_MINUTE = 1.0  # groups of people past each face camera
LISTED_EVERY_REAL = timedelta(minutes=2)
FUGITIVE_EVERY_REAL = timedelta(minutes=4)
HORIZON_H = 12.0  # simulated hours a plan covers
WARM_UP = timedelta(minutes=2)  # the first plan starts this far back: the listed car passes at once


@dataclass(frozen=True, slots=True)
class Scenario:
    """What `prepare_checkpoints` planted."""

    listed_entry: int
    fugitive: str  # the enrolled face's reference
    case_id: str | None  # the missing-person case (None: no investigator account to open it)
    backfilled: list[Accepted]


@dataclass(slots=True)
class FeedStats:
    """What the cameras posted: counts and the time spent rendering and keeping."""

    posted: int = 0
    refused: int = 0
    busy_s: float = 0.0  # rendering and keeping, in this process
    began: float = field(default_factory=time.monotonic)

    def per_minute(self) -> float:
        """Images posted per real minute since the feed began."""
        return self.posted * 60 / max(1e-9, time.monotonic() - self.began)


@dataclass(slots=True)
class DemoCheckpoints:
    """The demo's camera sites and their feed."""

    sites: list[CameraSite]
    seed: int
    images: ShotImages = field(default_factory=ShotImages)
    scenario: Scenario | None = None  # None: planted by an earlier run
    stats: FeedStats = field(default_factory=FeedStats)

    async def post(self, platform: Platform, shot: Shot) -> Accepted | None:
        """Render a shot and post it as its camera would: kept, then announced to the readers."""
        intake = platform.service(Intake)
        started = time.perf_counter()
        try:
            accepted = await asyncio.to_thread(self._keep, intake, shot)
        except DomainError as exc:  # a full queue (Busy) or a refusal: a camera would retry or log
            self.stats.refused += 1
            log.warning("sim.checkpoint_refused", device=shot.device, error=str(exc))
            return None
        finally:
            self.stats.busy_s += time.perf_counter() - started
        await intake.announce(accepted)
        self.stats.posted += 1
        return accepted

    def _keep(self, intake: Intake, shot: Shot) -> Accepted:
        capture = Capture(
            device=shot.device,
            ts=int(shot.at.timestamp() * 1000),
            framing=shot.framing,
            source="sim",
        )
        return intake.keep(capture, self.images.image(shot))

    async def live(self, platform: Platform, stop: asyncio.Event, *, speedup: float) -> None:
        """Plan after plan until stopped, each shot posted when the platform's clock reaches it."""
        wait = pace(platform.clock.now, speedup, stop)
        origin = platform.clock.now() - WARM_UP
        start, salt = origin, 0
        while not stop.is_set():
            plan = await asyncio.to_thread(
                plan_checkpoints,
                self.sites,
                seed=self.seed,
                start=start,
                hours=HORIZON_H,
                vehicles_per_hour=PASSES_PER_REAL_MINUTE * 60 / speedup,
                walkers_per_hour=GROUPS_PER_REAL_MINUTE * 60 / speedup,
                listed_every=LISTED_EVERY_REAL * speedup,
                fugitive_every=FUGITIVE_EVERY_REAL * speedup,
                origin=origin,
                salt=salt,
            )
            log.info("sim.checkpoint_plan", plan=salt, start=start.isoformat(), shots=len(plan.shots))
            for shot in plan.shots:
                if not await wait(shot.at):
                    return
                await self.post(platform, shot)
            log.info(
                "sim.checkpoints_fed",
                posted=self.stats.posted,
                refused=self.stats.refused,
                per_minute=round(self.stats.per_minute(), 1),
                busy_s=round(self.stats.busy_s, 1),
            )
            if not await wait(plan.end):
                return
            start, salt = plan.end, salt + 1


def _register(platform: Platform, sites: list[CameraSite]) -> bool:
    """Register the camera sites; False if they were registered already (planted by an earlier run)."""
    now = platform.clock.now()
    with transaction(platform.session_factory) as session:
        if registry.get_device(session, device_id=sites[0].device) is not None:
            return False
        for site in sites:
            registry.create_device(
                session,
                device_id=site.device,
                kind=site.kind,
                name=site.name,
                lat=site.lat,
                lon=site.lon,
                area_id=site.area_id,
                now=now,
            )
        changed(session, "devices")
    return True


def _investigator(platform: Platform) -> Context | None:
    """The demo investigator's context (None before the demo's accounts exist)."""
    with platform.session_factory() as session:
        try:
            account_id = accounts.find_account(session, INVESTIGATOR).id
        except DomainError:
            return None
    return platform.security.context_of_account(account_id)


def _list_plate(platform: Platform, ctx: Context) -> int:
    listed = PlateListing(plate=LISTED_PLATE, list_kind="wanted_vehicle", basis=WANTED_BASIS, valid_days=90)
    return platform.registry.list_plate(ctx, listed, resource="demo").id


def _open_case(platform: Platform, ctx: Context, sites: list[CameraSite]) -> str:
    """The missing-person case over the district of the railway station (her walk stays in it)."""
    rail = next(s for s in sites if s.device == "FC-RAIL-1")
    with platform.session_factory() as session:
        parents = dict(registry.area_parents(session))
    district: str = rail.area_id
    while (parent := parents.get(district)) is not None:
        district = parent
    now = platform.clock.now()
    case = case_admin.open_case(
        platform.security,
        ctx,
        title=CASE_TITLE,
        basis=CASE_BASIS,
        area_id=district,
        window_start=now - timedelta(days=1),
        window_end=now + timedelta(days=30),
        now=now,
        resource="demo",
    )
    return case.id


async def prepare_checkpoints(platform: Platform, city: City, *, seed: int) -> DemoCheckpoints:
    """Register the cameras and plant the scenario once (see the module docstring)."""
    sites = await asyncio.to_thread(camera_sites, city)
    demo = DemoCheckpoints(sites, seed)
    if not await asyncio.to_thread(_register, platform, sites):
        return demo
    investigator = await asyncio.to_thread(_investigator, platform)
    ctx = investigator or SYSTEM
    entry = await asyncio.to_thread(_list_plate, platform, ctx)
    enrolled = await platform.service(Enrolments).enrol(
        ctx,
        NewEnrolment(list_kind="fugitive", label=FUGITIVE_LABEL, basis=FUGITIVE_BASIS, valid_days=90),
        [encode_face(astronaut(), "PNG")],
        resource="demo",
    )
    case_id = None
    if investigator is not None:
        case_id = await asyncio.to_thread(_open_case, platform, investigator, sites)
    backfilled = []
    for shot in grandmother_sightings(sites, seed=seed, now=platform.clock.now()):
        accepted = await demo.post(platform, shot)
        if accepted is not None:
            backfilled.append(accepted)
    demo.scenario = Scenario(entry, enrolled.reference, case_id, backfilled)
    log.info(
        "demo.checkpoints_planted",
        listed=LISTED_PLATE,
        fugitive=enrolled.reference,
        case=case_id,
        grandmother_sightings=len(backfilled),
    )
    return demo


async def run_checkpoints(
    platform: Platform, city: City, stop: asyncio.Event, *, seed: int, speedup: float
) -> None:
    """Plant the scenario and feed the cameras until stopped; a failure is logged, not raised, so
    the rest of the demo carries on."""
    try:
        demo = await prepare_checkpoints(platform, city, seed=seed)
        await demo.live(platform, stop, speedup=speedup)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("sim.checkpoints_failed")
        return
    with contextlib.suppress(Exception):
        log.info("sim.checkpoints_stopped", posted=demo.stats.posted, refused=demo.stats.refused)


__all__ = [
    "CASE_TITLE",
    "FUGITIVE_LABEL",
    "INVESTIGATOR",
    "DemoCheckpoints",
    "FeedStats",
    "Scenario",
    "prepare_checkpoints",
    "run_checkpoints",
]
