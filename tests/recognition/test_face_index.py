"""FAISS face search against exact search, its ids and file round trip, and reverse search's window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from safecity.recognition.face_index import FaceIndex, IndexSpec, SightingStore
from safecity.sim.face_images import FaceSpace

N = 40_000
SPACE = FaceSpace()


@pytest.fixture(scope="module")
def centres() -> np.ndarray:
    return SPACE.identities(N)


@pytest.fixture(scope="module")
def index(centres: np.ndarray) -> FaceIndex:
    # Fewer faces a list than the million-face default (156, not 977), so a larger share of the
    # lists (3/4, not 1/2) is visited for the same recall (decisions/0018).
    idx = FaceIndex(IndexSpec(nlist=256, nprobe=192))
    idx.train(centres)
    idx.add(np.arange(N, dtype=np.int64) * 7 + 3, centres)
    return idx


def exact(centres: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    d = (queries**2).sum(1)[:, None] - 2 * queries @ centres.T + (centres**2).sum(1)[None, :]
    return np.argsort(d, axis=1)[:, :k]


def test_ivf_search_recalls_the_exact_top_ten(index: FaceIndex, centres: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    labels = rng.choice(N, 100, replace=False)
    queries = SPACE.sightings(centres, labels)
    truth = exact(centres, queries, 10) * 7 + 3
    ids, _ = index.search(queries, k=10, max_distance=10.0)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)])
    assert recall >= 0.99


def test_few_lists_suffice_to_find_the_same_person(index: FaceIndex, centres: np.ndarray) -> None:
    # Recall of the whole top 10 needs half the lists (its far members are anywhere); the one
    # face within the threshold is in the query's nearest lists.
    labels = np.random.default_rng(2).choice(N, 200, replace=False)
    ids, distances = index.search(SPACE.sightings(centres, labels), k=1, nprobe=32)
    assert (ids[:, 0] == labels * 7 + 3).all()
    assert (distances[:, 0] < 0.6).all()


def test_threshold_keeps_only_the_same_person(index: FaceIndex, centres: np.ndarray) -> None:
    queries = SPACE.sightings(centres, np.array([10, 20, 30]), seed=5)
    for label, query in zip((10, 20, 30), queries, strict=True):
        hits = index.nearest(query, k=10, max_distance=0.6)
        assert [h.id for h in hits] == [label * 7 + 3]
        assert hits[0].distance < 0.6


def test_stranger_matches_nobody(index: FaceIndex) -> None:
    stranger = FaceSpace(seed=SPACE.seed).identities(1, seed=99)
    assert index.nearest(stranger[0], max_distance=0.6) == []


def test_add_replaces_remove_forgets_and_the_file_round_trips(centres: np.ndarray, tmp_path: Path) -> None:
    idx = FaceIndex(IndexSpec(nlist=32, nprobe=32))
    idx.train(centres[:5_000])
    idx.add(np.arange(1_000), centres[:1_000])
    idx.add(np.array([5]), centres[[900]])  # id 5 now holds another face
    assert len(idx) == 1_000
    assert idx.nearest(centres[900])[0].id in {5, 900}
    assert all(h.id != 5 for h in idx.nearest(centres[5]))
    assert idx.remove(np.array([7, 8, 123_456])) == 2
    assert len(idx) == 998
    path = tmp_path / "faces.index"
    idx.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["faces.index"]  # no temporary left behind
    loaded = FaceIndex.load(path, IndexSpec(nprobe=32))
    assert len(loaded) == 998
    assert loaded.nearest(centres[10])[0].id == 10
    assert loaded.nearest(centres[7]) == []
    assert loaded.remove(np.array([10])) == 1  # the id map survived the file
    assert loaded.memory_bytes() > 997 * 128 * 2  # half-precision descriptors


def test_flat_index_is_exact(centres: np.ndarray) -> None:
    idx = FaceIndex(IndexSpec(nlist=0))
    idx.add(np.arange(2_000) + 100, centres[:2_000])
    queries = SPACE.sightings(centres, np.arange(20))
    ids, _ = idx.search(queries, k=5, max_distance=10.0)
    assert (ids == exact(centres[:2_000], queries, 5) + 100).all()
    assert idx.remove(np.array([100])) == 1


def test_untrained_ivf_refuses_to_add(centres: np.ndarray) -> None:
    with pytest.raises(RuntimeError, match="trained"):
        FaceIndex(IndexSpec(nlist=16)).add(np.arange(3), centres[:3])


def sightings(centres: np.ndarray) -> tuple[SightingStore, np.ndarray]:
    """Identity 0 seen once an hour for 48 hours on four cameras, among 2,000 others an hour."""
    store = SightingStore()
    rng = np.random.default_rng(3)
    times_of_zero = []
    for hour in range(48):
        labels = rng.choice(np.arange(1, N), 2_000)
        labels[0] = 0
        t = 1_800_000_000 + hour * 3600 + rng.integers(0, 3600, len(labels))
        times_of_zero.append(int(t[0]))
        cams = [f"cam-{hour % 4}"] + [f"cam-{c}" for c in rng.integers(0, 50, len(labels) - 1)]
        ids = np.arange(len(labels)) + hour * 10_000
        store.add(ids, SPACE.sightings(centres, labels, seed=hour), t, cams)
    return store, np.array(times_of_zero)


def test_reverse_search_finds_every_sighting_inside_the_window_and_none_outside(centres: np.ndarray) -> None:
    store, times_of_zero = sightings(centres)
    assert len(store) == 96_000
    since, until = int(times_of_zero[10]), int(times_of_zero[20])  # both ends inclusive
    photo = SPACE.sightings(centres, np.array([0]), seed=77)[0]
    hits = store.search(photo, since_s=since, until_s=until, k=100, max_distance=0.6)
    assert sorted(h.time_s for h in hits) == sorted(times_of_zero[10:21].tolist())
    assert {h.camera for h in hits} == {"cam-0", "cam-1", "cam-2", "cam-3"}
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    narrow = store.search(photo, since_s=since + 1, until_s=until - 1, max_distance=0.6)
    assert len(narrow) == 9
    assert store.search(photo, since_s=0, until_s=1_000, max_distance=0.6) == []


def test_reverse_search_keeps_the_k_nearest_and_retention_forgets_exactly_the_old(
    centres: np.ndarray,
) -> None:
    store, times_of_zero = sightings(centres)
    photo = SPACE.sightings(centres, np.array([0]), seed=77)[0]
    top = store.search(photo, since_s=0, until_s=2**62, k=5, max_distance=0.6)
    everything = store.search(photo, since_s=0, until_s=2**62, k=100, max_distance=0.6)
    assert len(everything) == 48
    assert top == everything[:5]
    dropped = store.drop_before(1_800_000_000 + 24 * 3600)  # exactly the first 24 hours
    assert dropped == 24 * 2_000
    assert len(store) == 24 * 2_000
    kept = store.search(photo, since_s=0, until_s=2**62, max_distance=0.6)
    assert sorted(h.time_s for h in kept) == sorted(times_of_zero[24:].tolist())
