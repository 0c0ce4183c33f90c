"""The simulated checkpoint and face cameras: sites in the city, a deterministic stream of captures
with its ground truth, the planted events in it, and images a camera could have posted."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from safecity.core.geo import distance_m
from safecity.core.ids import is_valid_plate
from safecity.recognition.faces import MATCH_DISTANCE, FaceEngine, face_distance
from safecity.recognition.plate_format import PlateFormat
from safecity.sim import City
from safecity.sim.checkpoints import (
    CLONED_PLATE,
    FRAME_SIZE,
    GRANDMOTHER_PATH,
    LISTED_PLATE,
    CameraSite,
    CheckpointPlan,
    Place,
    Planted,
    Shot,
    ShotImages,
    camera_sites,
    clone_pair,
    grace_hopper,
    grandmother_sightings,
    is_night,
    plan_checkpoints,
)
from safecity.sim.face_images import astronaut

START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 16:00 in Wenzhou: the plan runs into the night


@pytest.fixture(scope="module")
def sites(tiny_city: City) -> list[CameraSite]:
    return camera_sites(tiny_city)


@pytest.fixture(scope="module")
def plan(sites: list[CameraSite]) -> CheckpointPlan:
    return plan_checkpoints(sites, seed=7, start=START, hours=12)


def _images(plan: CheckpointPlan, n: int) -> list[bytes]:
    renderer = ShotImages()
    return [renderer.image(s) for s in plan.shots[:n]]


def test_sites_are_plate_and_face_cameras_at_the_places_the_issue_names(
    tiny_city: City, sites: list[CameraSite]
) -> None:
    places = Counter((s.kind, s.place) for s in sites)
    assert places == {
        ("checkpoint_camera", Place.CHECKPOINT): 4,
        ("face_camera", Place.RAILWAY): 1,
        ("face_camera", Place.METRO): 3,
        ("face_camera", Place.AIRPORT): 1,
        ("face_camera", Place.TOURIST): 2,
    }
    areas = tiny_city.table("areas")
    communities = set(areas.filter(areas["kind"] == "community")["id"].to_list())
    assert all(s.area_id in communities for s in sites)
    assert len({s.device for s in sites}) == len(sites)
    assert all(tiny_city.bbox.contains(s.lat, s.lon) for s in sites)
    assert camera_sites(tiny_city) == sites  # the same city, the same sites


def test_the_same_seed_gives_the_same_captures_and_bytes(
    sites: list[CameraSite], plan: CheckpointPlan
) -> None:
    again = plan_checkpoints(sites, seed=7, start=START, hours=12)
    assert again.shots == plan.shots
    assert _images(again, 12) == _images(plan, 12)
    other = plan_checkpoints(sites, seed=8, start=START, hours=12)
    assert [s.plate for s in other.shots] != [s.plate for s in plan.shots]


def test_vehicles_pass_in_a_few_frames_at_the_cameras_interval_with_their_plate(
    sites: list[CameraSite], plan: CheckpointPlan
) -> None:
    interval = {s.device: s.frame_interval_s for s in sites}
    passes: dict[int, list[Shot]] = {}
    for shot in plan.shots:
        if shot.purpose == "plate":
            passes.setdefault(shot.pass_id, []).append(shot)
    assert len(passes) > 100
    for frames in passes.values():
        assert 2 <= len(frames) <= 4
        assert len({(f.plate, f.device) for f in frames}) == 1
        gaps = {round((b.at - a.at).total_seconds(), 3) for a, b in zip(frames, frames[1:], strict=False)}
        assert gaps == {interval[frames[0].device]}
    plates = [s.plate for s in plan.shots if s.plate]
    assert all(is_valid_plate(p) for p in plates)
    formats = {s.plate_format for s in plan.shots if s.plate_format}
    assert {PlateFormat.ORDINARY, PlateFormat.NEW_ENERGY_SMALL, PlateFormat.MILITARY} <= formats
    degradations = {d for s in plan.shots for d in s.degradations}
    assert {"blur", "perspective", "night", "jpeg"} <= degradations
    assert all(("night" in s.degradations) == is_night(s.at) for s in plan.shots if s.purpose == "plate")


def test_the_listed_plate_passes_early_and_every_hour(plan: CheckpointPlan) -> None:
    listed = plan.planted(Planted.LISTED)
    assert {s.plate for s in listed} == {LISTED_PLATE}
    firsts = sorted({min(s.at for s in listed if s.pass_id == p) for p in {s.pass_id for s in listed}})
    assert firsts[0] - START <= timedelta(minutes=2)
    assert {b - a for a, b in zip(firsts, firsts[1:], strict=False)} == {timedelta(hours=1)}


def test_the_cloned_plate_is_seen_across_the_city_faster_than_any_car(
    sites: list[CameraSite], plan: CheckpointPlan
) -> None:
    clone = plan.planted(Planted.CLONE)
    assert {s.plate for s in clone} == {CLONED_PLATE}
    first, second = clone[0], clone[-1]
    a, b = ({s.device: s for s in sites}[shot.device] for shot in (first, second))
    metres = distance_m(a.lat, a.lon, b.lat, b.lon)
    kmh = metres / (second.at - first.at).total_seconds() * 3.6
    assert a != b and metres >= 2_000 and kmh > 120  # over the cloned-plate rule's defaults
    croppers = [s for s in sites if s.framing == "crop" and s.kind == "checkpoint_camera"]
    assert {a, b} == set(clone_pair(croppers))


def test_the_fugitive_passes_one_metro_camera_every_two_hours(plan: CheckpointPlan) -> None:
    fugitive = plan.planted(Planted.FUGITIVE)
    assert {s.device for s in fugitive} == {"FC-METRO-1"}
    assert all(s.people[0] == "fugitive" and len(s.people) <= 2 for s in fugitive)
    times = [s.at for s in fugitive]
    assert times[0] - START <= timedelta(minutes=5)
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {timedelta(hours=2)}
    passers = [p for s in plan.shots if s.purpose == "face" for p in s.people]
    assert "grandmother" not in passers  # she is not seen live, only on the way here


def test_the_grandmother_walks_past_four_cameras_in_the_last_hours_in_time_order(
    tiny_city: City, sites: list[CameraSite]
) -> None:
    now = START
    seen = grandmother_sightings(sites, seed=7, now=now)
    assert [s.device for s in seen] == [device for device, _ in GRANDMOTHER_PATH]
    assert [s.at for s in seen] == sorted(s.at for s in seen)
    assert all(now - timedelta(hours=6) < s.at < now and s.people[0] == "grandmother" for s in seen)
    areas = tiny_city.table("areas")
    parent = dict(zip(areas["id"].to_list(), areas["parent_id"].to_list(), strict=True))
    walk = {s.area_id for s in sites if s.device in {d for d, _ in GRANDMOTHER_PATH}}
    assert len({parent[parent[a]] for a in walk}) == 1  # one district: one case area covers her walk
    assert grandmother_sightings(sites, seed=7, now=now) == seen


def test_images_decode_small_a_crop_or_a_640_by_360_frame(plan: CheckpointPlan) -> None:
    crops = [s for s in plan.shots if s.framing == "crop"]
    frames = [s for s in plan.shots if s.framing == "frame"]
    shots = (
        crops[:10]
        + [s for s in frames if s.purpose == "plate"][:5]
        + [s for s in frames if s.purpose == "face"][:5]
    )
    renderer = ShotImages()
    for shot in shots:
        data = renderer.image(shot)
        assert data[:3] == b"\xff\xd8\xff" and len(data) < 120_000
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if shot.framing == "frame":
                assert image.size == FRAME_SIZE
            else:
                assert image.width <= 400 and image.height <= 140


@pytest.mark.slow
def test_face_frames_show_the_people_the_truth_names_and_strangers_never_look_like_the_listed(
    plan: CheckpointPlan, sites: list[CameraSite]
) -> None:
    engine = FaceEngine()  # as the readers run it: no upsampling, faces from about 80 px
    fugitive = engine.detect(astronaut())[0].embedding
    grandmother = engine.detect(grace_hopper())[0].embedding
    renderer = ShotImages()
    shots = plan.planted(Planted.FUGITIVE)[:2] + grandmother_sightings(sites, seed=7, now=START)
    shots += [s for s in plan.shots if s.purpose == "face" and s.planted is None][:6]
    for shot in shots:
        rgb = np.asarray(Image.open(io.BytesIO(renderer.image(shot))).convert("RGB"))
        faces = engine.detect(rgb)
        assert len(faces) == len(shot.people), shot
        near = sorted(min(face_distance(f.embedding, p) for p in (fugitive, grandmother)) for f in faces)
        planted = 1 if shot.planted in (Planted.FUGITIVE, Planted.GRANDMOTHER) else 0
        assert all(d < 0.4 for d in near[:planted]), (shot, near)
        assert all(d > MATCH_DISTANCE for d in near[planted:]), (shot, near)
