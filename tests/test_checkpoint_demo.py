"""The demo's checkpoints and face cameras on the tiny city, run as `safecity demo` runs them (30x),
walk issue 14's "Done when": the watch-listed plate passing a checkpoint appears at the checkpoint
view with its image, the fugitive's face hit waits for review and becomes an alert only once
confirmed, and the missing grandmother's photo finds her recent sightings, in time order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from safecity.alerts.query import AlertFilter
from safecity.core.clock import AcceleratedClock
from safecity.driver import ensure_loaded
from safecity.driver.checkpointdemo import prepare_checkpoints
from safecity.platform import Platform
from safecity.recognition.lost import LostPersonSearch
from safecity.recognition.review import Reviews
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.sim.checkpoints import CLONED_PLATE, GRANDMOTHER_PATH, LISTED_PLATE, grace_hopper
from safecity.sim.face_images import encode
from safecity.web.app import create_app
from tests.authn import mint

SPEEDUP = 30.0  # as `safecity demo`
HITS = "/api/v1/checkpoints/hits"
T = TypeVar("T")


async def _until(probe: Callable[[], Awaitable[T]], *, timeout_s: float = 120.0) -> T:
    """Poll until `probe` answers something truthy (the readers work behind the bus)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"nothing after {timeout_s} s")


def _alerts(platform: Platform, rule: str) -> list[Any]:
    return [a for a in platform.alerts.list_alerts(AlertFilter(limit=500)) if a.rule == rule]


@pytest.mark.slow
async def test_the_checkpoint_demo_is_done_as_the_issue_says(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    clock = AcceleratedClock(datetime.now(UTC), SPEEDUP)
    platform = Platform.build(settings, clock=clock)
    city = ensure_loaded(platform, seed=7, scale="tiny")
    platform = Platform.build(settings, clock=clock)  # with the city's bounds
    headers = mint(platform.security, Role.INVESTIGATOR, username="investigator")  # the demo's account
    investigator = platform.security.authenticate_token(headers["Authorization"].removeprefix("Bearer "))
    patrol = mint(platform.security, Role.PATROL_OFFICER, city_wide=True)  # the checkpoint view's officer
    ctx = investigator.context()
    await platform.start()
    stop = asyncio.Event()
    feed: asyncio.Task[None] | None = None
    try:
        demo = await prepare_checkpoints(platform, city, seed=7)
        scenario = demo.scenario
        assert scenario is not None and scenario.case_id is not None
        assert len(scenario.backfilled) == len(GRANDMOTHER_PATH)
        assert (await prepare_checkpoints(platform, city, seed=7)).scenario is None  # planted once
        feed = asyncio.create_task(demo.live(platform, stop, speedup=SPEEDUP))
        app = create_app(platform, manage_platform=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://demo"
        ) as client:

            async def listed_hits() -> list[dict[str, Any]]:
                answer = await client.get(HITS, headers=patrol)
                assert answer.status_code == 200, answer.text
                return [h for h in answer.json() if h["listed_plate"] == LISTED_PLATE]

            # The listed car passes a checkpoint within the demo's first seconds.
            hit = (await _until(listed_hits))[-1]
            assert (hit["list_kind"], hit["priority"], hit["device"][:3]) == ("wanted_vehicle", 1, "KK-")
            assert hit["has_image"]
            image = await client.get(f"{HITS}/{hit['id']}/image", headers=patrol)
            assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
        assert [a.subject for a in _alerts(platform, "checkpoint-wanted_vehicle")] == [LISTED_PLATE]

        # The fugitive walks past the first metro camera: a review item, and no alert yet.
        reviews = platform.service(Reviews)

        async def pending() -> list[Any]:
            return [r for r in reviews.queue(ctx) if r.reference == scenario.fugitive]

        [review, *_] = await _until(pending)
        assert (review.list_kind, review.device) == ("fugitive", "FC-METRO-1")
        assert review.distance is not None and review.distance < 0.4
        assert _alerts(platform, "face-fugitive") == []
        reviews.decide(ctx, review.id, decision="confirmed", reason="", resource="test")
        assert [a.subject for a in _alerts(platform, "face-fugitive")] == [scenario.fugitive]

        # The cloned plate, at two checkpoints across the city 40 s apart, is warned of.
        async def cloned() -> list[Any]:
            return _alerts(platform, "cloned-plate")

        assert [a.subject for a in await _until(cloned)] == [CLONED_PLATE]

        # The grandmother's photo, searched under her case, finds her walk of the last hours.
        lost = platform.service(LostPersonSearch)

        async def her_walk() -> list[Any]:
            answer = await lost.search(
                investigator,
                [encode(grace_hopper())],
                case_id=scenario.case_id,
                purpose="missing grandmother: where was she seen today",
                hours=6,
                max_distance=0.5,
                resource="test",
            )
            return answer.candidates if len(answer.candidates) >= len(GRANDMOTHER_PATH) else []

        path = sorted(await _until(her_walk), key=lambda c: c.ts)
        assert [c.device for c in path] == [device for device, _ in GRANDMOTHER_PATH]
        assert [c.ts for c in path] == [a.ts for a in scenario.backfilled]
        assert all(c.distance < 0.4 for c in path)
        assert platform.clock.now() - path[0].ts > timedelta(hours=4)
    finally:
        stop.set()
        if feed is not None:
            await asyncio.wait_for(feed, timeout=30)
        await platform.stop()
    assert demo.stats.posted > len(GRANDMOTHER_PATH) and demo.stats.refused == 0
