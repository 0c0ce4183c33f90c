"""Plates read from rendered images (crops and street frames) above a floor; bad images refused."""

from __future__ import annotations

import numpy as np
import pytest

from safecity.recognition.images_decode import ImageRefused
from safecity.recognition.plate_format import PlateColour, PlateFormats
from safecity.recognition.plate_reader import PlateReader, decode_image
from safecity.sim.plate_images import PlateRenderer, car_frame, encode, plate_samples


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


@pytest.fixture(scope="module")
def renderer() -> PlateRenderer:
    return PlateRenderer()


def test_rendered_plates_across_formats_and_degradations_read_above_the_floor(
    reader: PlateReader, renderer: PlateRenderer
) -> None:
    samples = list(plate_samples(150, seed=11, renderer=renderer))
    right = sum((r := reader.read_crop(s.encoded())) is not None and r.plate == s.plate for s in samples)
    assert right / len(samples) >= 0.93  # bench/plates.py measures 2,000 (target 95 %)
    assert len({s.format for s in samples}) >= 8


def test_a_clean_crop_reads_exactly_with_its_confidences(
    reader: PlateReader, renderer: PlateRenderer
) -> None:
    (sample,) = plate_samples(1, seed=3, renderer=renderer, degradations=False)
    reading = reader.read_crop(sample.image, colour=PlateColour.BLUE)
    assert reading is not None and reading.plate == sample.plate
    assert reading.colour is PlateColour.BLUE and reading.box == (0, 0, *sample.image.shape[1::-1])
    assert len(reading.char_confidences) == len(reading.plate) and 0.5 < reading.confidence <= 1


def test_plates_are_found_and_read_in_street_frames(reader: PlateReader, renderer: PlateRenderer) -> None:
    rng = np.random.default_rng(5)
    frames = [car_frame(s, rng) for s in plate_samples(20, seed=21, renderer=renderer)]
    found = 0
    for frame in frames:
        readings = reader.read_frame(encode(frame.image, ".png"))
        hit = next((r for r in readings if r.plate == frame.plate), None)
        if hit is not None:
            found += 1
            x, y, w, h = hit.box
            fx, fy, fw, fh = frame.box
            assert abs((x + w / 2) - (fx + fw / 2)) < fw / 2 and abs((y + h / 2) - (fy + fh / 2)) < fh
    assert found >= 17


def test_a_frame_without_a_plate_reads_nothing(reader: PlateReader) -> None:
    assert reader.read_frame(np.full((480, 640, 3), 90, np.uint8)) == []


def test_the_province_prefix_of_the_profile_completes_a_cropped_reading(renderer: PlateRenderer) -> None:
    image = renderer.render("浙A12345", *_ordinary())
    cut = image[:, int(image.shape[1] * 0.14) :]  # the province character cropped off
    hangzhou = PlateReader(PlateFormats.load("hangzhou"))
    reading = hangzhou.read_crop(cut)
    assert reading is not None and reading.plate == "浙A12345"


def _ordinary() -> tuple:
    from safecity.recognition.plate_format import PlateFormat

    return PlateFormat.ORDINARY, PlateColour.BLUE


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"GIF89a not what cameras send", "not a JPEG or PNG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "not a JPEG or PNG|broken header|corrupt"),
        (b"\x89PNG\r\n\x1a\n" + b"\x01" * 40, "not a JPEG or PNG|broken header|corrupt"),
        (np.zeros((2, 2, 3), np.uint8), "not an image"),
        ("a path, not an image", "empty"),
    ],
)
def test_bad_images_are_refused_naming_what_was_wrong(
    reader: PlateReader, data: object, message: str
) -> None:
    with pytest.raises(ImageRefused, match=message) as refused:
        reader.read_crop(data)  # type: ignore[arg-type]
    assert refused.value.field == "image"


def test_a_truncated_png_is_refused_as_corrupt(renderer: PlateRenderer) -> None:
    (sample,) = plate_samples(1, seed=4, renderer=renderer, degradations=False)
    data = sample.encoded(".png")
    with pytest.raises(ImageRefused, match="corrupt"):
        decode_image(data[: len(data) // 3])
