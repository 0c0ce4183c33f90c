"""Settings of recognition: the worker pool, image limits, how long images and face data are kept."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from safecity.core.config import Section, SettingsSection


def _default_workers() -> int:
    # One core stays with ingest and the web: a burst of images must never starve them.
    return max(1, (os.cpu_count() or 2) - 1)


class RecognitionSettings(Section):
    """Recognition; SAFECITY_ + the field name in upper case sets each."""

    recognition_workers: int = Field(
        default_factory=_default_workers,
        ge=1,
        le=64,
        description="Processes reading plates and faces in images (default: the machine's cores less one).",
    )
    recognition_queue_limit: int = Field(
        500,
        ge=1,
        description="Images waiting for a worker before new ones are refused with 503 (the camera retries).",
    )
    recognition_image_timeout_s: float = Field(
        20.0, gt=0, le=600, description="An image a worker has not finished after this is marked failed."
    )
    recognition_max_image_bytes: int = Field(
        8_000_000, ge=10_000, description="A larger image is refused (413); cameras send JPEG or PNG."
    )
    recognition_max_pixels: int = Field(
        40_000_000, ge=10_000, description="An image with more pixels is refused (a decompression bomb)."
    )
    recognition_images_dir: Path | None = Field(
        None, description="Where images are kept; empty means <data_dir>/images."
    )
    recognition_plate_group_gap_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="Readings of one camera this close in time and plate are one passing vehicle; its "
        "vote is cast when the camera has been quiet this long about it (a sure reading is sent at once).",
    )
    recognition_image_hours: float = Field(
        72.0,
        gt=0,
        le=24 * 90,
        description="Camera images that became no hit's or review's evidence are deleted after this.",
    )
    recognition_unmatched_face_hours: float = Field(
        72.0,
        gt=0,
        le=24 * 30,
        description="Faces that matched no watch-listed face are deleted after this (searchable until "
        "then only under a case, for a lost person's photo).",
    )
    recognition_fugitive_max_distance: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A face this near (dlib distance) an enrolled fugitive's goes to review; dlib's "
        "same-person threshold is 0.6: lower is stricter, fewer false hits for reviewers.",
    )
    recognition_missing_max_distance: float = Field(
        0.55, gt=0, le=1, description="The same for missing persons (a miss costs more than a review)."
    )
    recognition_review_expiry_minutes: float = Field(
        60.0,
        gt=0,
        le=24 * 60,
        description="A face hit nobody reviewed in this long expires (the person has moved on); counted.",
    )
    recognition_plate_profile: str = Field(
        "cn",
        min_length=1,
        max_length=64,
        description="The plate formats a reading may take, and the province a cropped reading missing "
        "it gets: a profile of the plate formats file (cn, cn_civilian, hangzhou, guangdong_border).",
    )
    recognition_plate_formats_file: Path | None = Field(
        None, description="Plate format profiles; empty means the packaged plate_formats.yaml."
    )
    recognition_lists_file: Path | None = Field(
        None,
        description="Hit policy per vehicle list (alert or log, priority, distance); empty means "
        "<data_dir>/checkpoint_lists.yaml if present, else the packaged one.",
    )


SECTION = SettingsSection("recognition", RecognitionSettings)

__all__ = ["SECTION", "RecognitionSettings"]
