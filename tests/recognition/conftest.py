"""Fixtures for recognition: a served platform with a plate camera and a face camera, and images."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.recognition.plate_format import PlateColour, PlateFormat
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.sim.plate_images import PlateRenderer, car_frame, encode, plate_samples
from safecity.store import transaction
from safecity.web.app import create_app
from tests.authn import mint
from tests.conftest import T0
from tests.web.conftest import admin, fresh_platform, schema_db  # noqa: F401  (the same fixture)

PLATE_CAMERA = "CAM-KK-01"
FACE_CAMERA = "CAM-FC-01"
TS = T0.isoformat()


@dataclass
class Served:
    """The app with its cameras' secrets, and an investigator's headers (the client's default)."""

    client: TestClient
    platform: Platform
    secrets: dict[str, str]

    def post_image(self, camera: str, data: bytes, *, kind: str = "image/jpeg", **params: Any) -> Any:
        """Post an image as a camera does (raw body, description in the query)."""
        return self.client.post(
            "/api/v1/recognition/images",
            content=data,
            params={"ts": TS, **params},
            headers={"Content-Type": kind},
            auth=(camera, self.secrets[camera]),
        )

    def wait(self, probe: Callable[[], Any], *, timeout_s: float = 60.0) -> Any:
        """Poll until `probe` answers something truthy (the readers work behind the bus)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"nothing after {timeout_s} s")

    def headers(self, role: Role, **kw: Any) -> dict[str, str]:
        """Headers of a new account of this role."""
        return mint(self.platform.security, role, **kw)


@pytest.fixture
def served(schema_db: Path, tmp_path: Path) -> Iterator[Served]:  # noqa: F811
    """A started platform (one reader process), stations S1 and S2 with communities C1 and C2, and a
    plate camera and a face camera in C1."""
    platform = fresh_platform(schema_db, tmp_path, recognition_workers=1)
    with transaction(platform.session_factory) as session:
        for station, community in (("S1", "C1"), ("S2", "C2")):
            session.add(Area(id=station, kind="station", name=station, station_id=station))
            session.flush()
            session.add(Area(id=community, kind="community", name=community, parent_id=station))
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        client.headers.update(mint(platform.security, Role.INVESTIGATOR))
        secrets = {}
        for device, kind in ((PLATE_CAMERA, "checkpoint_camera"), (FACE_CAMERA, "face_camera")):
            body = {"id": device, "kind": kind, "name": device, "lat": 28.0, "lon": 120.7, "area_id": "C1"}
            answer = client.post("/api/v1/devices", json=body, headers=admin(client))
            assert answer.status_code == 201, answer.text
            secrets[device] = answer.json()["secret"]
        yield Served(client, platform, secrets)


def plate_jpeg(
    plate: str, fmt: PlateFormat = PlateFormat.ORDINARY, colour: PlateColour = PlateColour.BLUE
) -> bytes:
    """A clean rendered plate crop, as JPEG."""
    return encode(PlateRenderer().render(plate, fmt, colour))


def frame_jpeg(seed: int = 3) -> tuple[bytes, str]:
    """A street frame with a random car's plate on it, and the plate."""
    import numpy as np

    sample = next(plate_samples(1, seed=seed, degradations=False))
    frame = car_frame(sample, np.random.default_rng(seed))
    return encode(frame.image), frame.plate


def fugitive_photo() -> bytes:
    """The enrolled fugitive's photo: scikit-image's astronaut (a sample photograph, nobody wanted)."""
    from safecity.sim.face_images import astronaut
    from safecity.sim.face_images import encode as encode_face

    return encode_face(astronaut())


def grandmother_photo(seed: int | None = None) -> bytes:
    """The missing grandmother: Grace Hopper's portrait from matplotlib's sample data (augmented by seed)."""
    import numpy as np
    from matplotlib import cbook
    from PIL import Image

    from safecity.sim.face_images import augment
    from safecity.sim.face_images import encode as encode_face

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        image = np.asarray(Image.open(handle).convert("RGB"))
    return encode_face(image if seed is None else augment(image, seed))


def seen_fugitive(seed: int = 1) -> bytes:
    """The fugitive as a face camera sees him: the astronaut, augmented."""
    from safecity.sim.face_images import astronaut, augment
    from safecity.sim.face_images import encode as encode_face

    return encode_face(augment(astronaut(), seed))
