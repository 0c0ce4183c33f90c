"""Cameras post images: bad images, descriptions and callers are refused naming what was wrong,
nothing of a refused image is kept, and an accepted one is kept whole and queued."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from safecity.recognition.models import CapturedImage
from tests.recognition.conftest import FACE_CAMERA, PLATE_CAMERA, Served, plate_jpeg
from tests.web.conftest import admin
from tests.web.test_registry_api import error_of

PATH = "/api/v1/recognition/images"


def _png(w: int = 64, h: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (20, 60, 160)).save(out, format="PNG")
    return out.getvalue()


def _kept(served: Served) -> int:
    with served.platform.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(CapturedImage)) or 0)


def test_an_accepted_image_is_kept_whole_and_queued(served: Served) -> None:
    data = plate_jpeg("浙A12345")
    answer = served.post_image(PLATE_CAMERA, data, framing="crop")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["device"] == PLATE_CAMERA and body["width"] > 0 and body["queued"] >= 1
    with served.platform.session_factory() as session:
        row = session.get(CapturedImage, body["image_id"])
        assert row is not None and row.purpose == "plate" and row.framing == "crop" and row.area == "C1"
        path = served.platform.settings.data_dir / "images" / row.path
    assert path.read_bytes() == data


def test_a_multipart_form_is_accepted_too(served: Served) -> None:
    answer = served.client.post(
        PATH,
        files={"image": ("face.png", _png(), "image/png")},
        data={"ts": "2026-11-22T08:00:00Z", "purpose": "face", "box": "0,0,32,32"},
        auth=(FACE_CAMERA, served.secrets[FACE_CAMERA]),
    )
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    ("data", "kind", "params", "status", "field"),
    [
        (b"GIF89a not a picture", "image/jpeg", {}, 422, "image"),
        (plate_jpeg("浙A12345")[:400], "image/jpeg", {}, 422, "image"),  # a truncated JPEG
        (b"", "image/jpeg", {}, 422, "image"),
        (_png(), "image/png", {"ts": "yesterday"}, 422, "ts"),
        (_png(), "image/png", {"ts": "2026-11-22T08:00:00"}, 422, "ts"),  # no offset
        (_png(), "image/png", {"ts": "2020-01-01T00:00:00Z"}, 422, "ts"),  # too old
        (_png(), "image/png", {"ts": "2027-01-01T00:00:00Z"}, 422, "ts"),  # ahead of our clock
        (_png(), "image/png", {"box": "0,0,500,10"}, 422, "box"),  # outside the 64x32 image
        (_png(), "image/png", {"box": "a,b"}, 422, "box"),
        (_png(), "image/png", {"purpose": "car"}, 422, "purpose"),
        (_png(), "image/png", {"framing": "zoom"}, 422, "framing"),
        (_png(), "text/plain", {}, 422, "content-type"),
        (_png(4, 4), "image/png", {}, 422, "image"),  # no room for a plate or a face
    ],
)
def test_bad_images_and_descriptions_are_refused_naming_the_field(
    served: Served, data: bytes, kind: str, params: dict[str, str], status: int, field: str
) -> None:
    answer = served.post_image(PLATE_CAMERA, data, kind=kind, **params)
    error = error_of(answer, status)
    assert error["field"] == field, error
    assert _kept(served) == 0
    assert list((served.platform.settings.data_dir / "images").rglob("*.*")) == []


def test_too_large_an_image_is_refused_before_it_is_read_whole(served: Served) -> None:
    big = b"\xff\xd8\xff" + b"\0" * 8_100_000
    error = error_of(served.post_image(PLATE_CAMERA, big), 413)
    assert error["code"] in ("body_too_large", "image_too_large") and "bytes" in error["message"]
    assert _kept(served) == 0


def test_only_registered_cameras_with_their_secret_may_post(served: Served) -> None:
    data = _png()
    stranger = served.client.post(
        PATH, content=data, params={"ts": "2026-11-22T08:00:00Z"}, headers={"Content-Type": "image/png"}
    )
    assert error_of(stranger, 401)["code"] == "unauthenticated"
    wrong = served.client.post(
        PATH,
        content=data,
        params={"ts": "2026-11-22T08:00:00Z"},
        headers={"Content-Type": "image/png"},
        auth=(PLATE_CAMERA, "not-its-secret"),
    )
    assert error_of(wrong, 401)["code"] == "unauthenticated"
    station = served.client.post(
        "/api/v1/devices",
        json={"id": "BS-9", "kind": "rfid_station", "name": "BS-9", "lat": 28.0, "lon": 120.7},
        headers=admin(served.client),
    ).json()["secret"]
    not_a_camera = served.client.post(
        PATH,
        content=data,
        params={"ts": "2026-11-22T08:00:00Z"},
        headers={"Content-Type": "image/png"},
        auth=("BS-9", station),
    )
    assert error_of(not_a_camera, 422)["field"] == "device"
    assert _kept(served) == 0
