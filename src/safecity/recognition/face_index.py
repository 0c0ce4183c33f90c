"""1:N face search: a FAISS index of enrolled descriptors by int64 id, and time-sliced sighting search.

Owns the two searches of issue 14 over dlib descriptors (compared by Euclidean distance, as
`faces` explains):

* `FaceIndex`: watch-listed identities, up to millions, searched for every face a camera sees.
  An inverted-file index (IVF, exact distances within the lists it visits) chosen by measurement
  in decisions/0018; ids are the caller's int64 (a watchlist entry's), added, replaced, removed,
  saved to a file atomically and loaded again.
* `SightingStore`: recent face sightings (descriptor, time, camera), searched exhaustively, one
  query at a time ("reverse search": a lost person's photo against the last hours and days),
  in blocks by time, so a window reads only its blocks and old blocks age out whole.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
import structlog

log = structlog.get_logger(__name__)

Vectors = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]

DIM = 128
# faiss.DirectMap.Hashtable: the enum is missing from faiss's type stubs, its value is stable.
_HASHTABLE = 2
MATCH_DISTANCE = 0.6  # dlib's same-person threshold (faces.MATCH_DISTANCE; lists may set their own)


def limit_threads(threads: int) -> None:
    """Let FAISS use at most `threads` OpenMP threads (process-wide: FAISS has one pool)."""
    faiss.omp_set_num_threads(max(1, threads))


@dataclass(frozen=True)
class IndexSpec:
    """How the enrolled descriptors are indexed: lists (`nlist`) and lists visited per query (`nprobe`).

    Inverted lists of half-precision descriptors (`IVF<nlist>,SQfp16`): distances exact to about
    1e-3, half the memory and bytes read of float32. `nlist` 0 is an exact flat index: right
    for a few tens of thousands of faces, where a scan is already fast and there is nothing to
    train. The defaults are decisions/0018's measurement for 1,000,000 faces on 2 cores.
    """

    nlist: int = 1024
    nprobe: int = 512
    train_size: int = 100_000  # k-means sample: ~100 per list, FAISS's advice is 39-256

    def factory(self) -> str:
        """The FAISS index factory string."""
        return "IDMap2,Flat" if self.nlist == 0 else f"IVF{self.nlist},SQfp16"


@dataclass(frozen=True)
class FaceHit:
    """An enrolled face near the query: its id and Euclidean distance (lower is more alike)."""

    id: int
    distance: float


class FaceIndex:
    """Enrolled descriptors by int64 id; nearest-neighbour search under a distance threshold."""

    def __init__(self, spec: IndexSpec | None = None, *, threads: int = 2, _index: Any = None) -> None:
        self.spec = spec or IndexSpec()
        limit_threads(threads)
        self._index: Any = _index if _index is not None else faiss.index_factory(DIM, self.spec.factory())
        if self.spec.nlist:
            ivf = faiss.extract_index_ivf(self._index)
            ivf.nprobe = self.spec.nprobe
            # A hash map from id to list position makes removing and replacing a face cost its
            # own lists, not a sweep of all million (about 16 bytes a face).
            if _index is None:
                ivf.set_direct_map_type(_HASHTABLE)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def is_trained(self) -> bool:
        """Whether the index has its lists (IVF: trained on a sample of descriptors; flat: always)."""
        return bool(self._index.is_trained)

    def train(self, sample: Vectors) -> None:
        """Learn the IVF lists from a sample of descriptors like those to be added (k-means)."""
        sample = _vectors(sample)
        if len(sample) > self.spec.train_size:
            rng = np.random.default_rng(0)
            sample = sample[rng.choice(len(sample), self.spec.train_size, replace=False)]
        if len(sample) < self.spec.nlist:
            raise ValueError(f"training needs at least {self.spec.nlist} descriptors, got {len(sample)}")
        self._index.train(sample)
        log.info("face_index_trained", nlist=self.spec.nlist, sample=len(sample))

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add faces under their ids, replacing any face already held under one of them."""
        ids, vectors = _ids(ids), _vectors(vectors)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} descriptors")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("ids repeat within one add")
        if not self.is_trained:
            raise RuntimeError("the index must be trained before faces are added (FaceIndex.train)")
        if len(self):
            self.remove(ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: Ids) -> int:
        """Remove the faces under these ids (absent ones are ignored); how many were removed."""
        ids = _ids(ids)
        if not len(ids):
            return 0
        # With the hash map, FAISS removes by an id array (IDSelectorArray: ids it does not hold
        # are skipped), not by a predicate over every face.
        selector = faiss.IDSelectorArray if self.spec.nlist else faiss.IDSelectorBatch
        return int(self._index.remove_ids(selector(len(ids), faiss.swig_ptr(ids))))

    def search(
        self,
        queries: Vectors,
        *,
        k: int = 10,
        max_distance: float = MATCH_DISTANCE,
        nprobe: int | None = None,
    ) -> tuple[Ids, npt.NDArray[np.float32]]:
        """The `k` nearest faces of each query within `max_distance`: ids (-1 where none) and distances.

        `nprobe` overrides the spec's lists visited for this call: a watchlist check that only
        wants faces within the threshold needs far fewer than a full top-k (decisions/0018).
        """
        queries = _vectors(queries)
        if nprobe is not None and self.spec.nlist:
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe
            squared, ids = self._index.search(queries, k, params=params)
        else:
            squared, ids = self._index.search(queries, k)
        distances = np.sqrt(np.maximum(squared, 0, dtype=np.float32))
        beyond = (ids < 0) | (distances > max_distance)
        ids[beyond] = -1
        distances[beyond] = np.inf
        return ids, distances

    def nearest(
        self, query: Vectors, *, k: int = 10, max_distance: float = MATCH_DISTANCE, nprobe: int | None = None
    ) -> list[FaceHit]:
        """The enrolled faces within `max_distance` of one descriptor, nearest first."""
        query = np.asarray(query).reshape(1, DIM)
        ids, distances = self.search(query, k=k, max_distance=max_distance, nprobe=nprobe)
        return [FaceHit(int(i), float(d)) for i, d in zip(ids[0], distances[0], strict=True) if i >= 0]

    def memory_bytes(self) -> int:
        """Bytes the index holds in memory: descriptors, ids, list centroids and the id hash map."""
        n = len(self)
        if not self.spec.nlist:
            return n * (DIM * 4 + 8) + n * 32  # vectors, ids, the IDMap2 reverse map (a hash map)
        ivf = faiss.extract_index_ivf(self._index)
        # Per face: its code (half-precision descriptor: 256 bytes) and id in its list, and its
        # entry in the id hash map (an unordered_map node and bucket: ~32 bytes, libstdc++).
        return self.spec.nlist * DIM * 4 + n * (int(ivf.code_size) + 8 + 32)

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically: a reader sees the old file or the new, never half."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            faiss.write_index(self._index, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log.info("face_index_saved", path=str(path), faces=len(self))

    @classmethod
    def load(cls, path: Path, spec: IndexSpec | None = None, *, threads: int = 2) -> FaceIndex:
        """An index saved by `save` (its lists and ids as written; `nprobe` from `spec`)."""
        index = faiss.read_index(str(path))
        nlist = int(faiss.extract_index_ivf(index).nlist) if "IVF" in type(index).__name__ else 0
        spec = spec or IndexSpec()
        spec = IndexSpec(nlist=nlist, nprobe=spec.nprobe, train_size=spec.train_size)
        return cls(spec, threads=threads, _index=index)


def _vectors(v: Any) -> Vectors:
    arr = np.ascontiguousarray(v, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != DIM:
        raise ValueError(f"expected descriptors of shape (n, {DIM}), got {arr.shape}")
    return arr


def _ids(v: Any) -> Ids:
    return np.ascontiguousarray(v, dtype=np.int64).reshape(-1)


@dataclass(frozen=True)
class SightingHit:
    """A face sighting near the query: its id, distance, time (epoch s) and camera."""

    id: int
    distance: float
    time_s: int
    camera: str


@dataclass
class _Block:
    """Sightings added together (roughly one stretch of time): descriptors and what they came with."""

    vectors: Vectors
    norms: npt.NDArray[np.float32]  # squared lengths, so a distance is one dot product away
    ids: Ids
    times: npt.NDArray[np.int64]
    cameras: npt.NDArray[np.int32]
    t_min: int = field(init=False)
    t_max: int = field(init=False)

    def __post_init__(self) -> None:
        self.t_min, self.t_max = int(self.times.min()), int(self.times.max())

    @classmethod
    def joined(cls, parts: list[_Block]) -> _Block:
        """One block of several, in order."""
        return cls(
            np.concatenate([p.vectors for p in parts]),
            np.concatenate([p.norms for p in parts]),
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.times for p in parts]),
            np.concatenate([p.cameras for p in parts]),
        )


class SightingStore:
    """Recent face sightings, searched exactly within a time window (reverse search).

    Sightings arrive in rough time order and are kept in blocks of tens of thousands, each with
    its time range, so a window search skips blocks outside it and checks times only in blocks
    that straddle its ends. The search of a
    block is a matrix-vector product (|v|^2 - 2 v.q + |q|^2) on BLAS: exact, no training, and
    one query over 5,000,000 sightings reads 2.5 GB once (decisions/0018).
    """

    # Small batches (a few faces a refresh) wait and are joined into blocks of about this many
    # rows, so a search loops over tens of blocks, not thousands; large ones are blocks as given.
    BLOCK_ROWS = 65_536

    def __init__(self) -> None:
        self._blocks: list[_Block] = []
        self._pending: list[_Block] = []
        self._pending_rows = 0
        self._cameras: list[str] = []
        self._camera_codes: dict[str, int] = {}

    def __len__(self) -> int:
        return sum(len(b.ids) for b in self._blocks) + self._pending_rows

    def _seal(self) -> None:
        """Join the waiting small batches into a block (with the last block, while that is small)."""
        if not self._pending:
            return
        parts = self._pending
        if self._blocks and len(self._blocks[-1].ids) < self.BLOCK_ROWS:
            parts = [self._blocks.pop(), *parts]
        self._blocks.append(parts[0] if len(parts) == 1 else _Block.joined(parts))
        self._pending, self._pending_rows = [], 0

    def add(self, ids: Ids, vectors: Vectors, times_s: npt.NDArray[np.int64], cameras: Sequence[str]) -> None:
        """Keep a batch of sightings: ids, descriptors, times (epoch seconds, UTC) and camera ids."""
        ids, vectors = _ids(ids).copy(), _vectors(vectors).copy()
        times = np.asarray(times_s, dtype=np.int64).reshape(-1).copy()
        if not len(ids) == len(vectors) == len(times) == len(cameras):
            raise ValueError("ids, descriptors, times and cameras differ in length")
        if not len(ids):
            return
        names, inverse = np.unique(np.asarray(cameras, dtype=str), return_inverse=True)
        codes = np.array([self._code(str(n)) for n in names], dtype=np.int32)[inverse]
        norms = np.einsum("ij,ij->i", vectors, vectors)
        block = _Block(vectors, norms, ids, times, codes)
        if len(ids) >= self.BLOCK_ROWS // 2:
            self._seal()
            self._blocks.append(block)
            return
        self._pending.append(block)
        self._pending_rows += len(ids)
        if self._pending_rows >= self.BLOCK_ROWS:
            self._seal()

    def _code(self, camera: str) -> int:
        code = self._camera_codes.get(camera)
        if code is None:
            code = self._camera_codes[camera] = len(self._cameras)
            self._cameras.append(camera)
        return code

    def drop_before(self, time_s: int) -> int:
        """Forget sightings older than `time_s` (retention: a block straddling it keeps only its
        newer rows). Returns how many were forgotten."""
        self._seal()
        before = len(self)
        kept = []
        for block in self._blocks:
            if block.t_min >= time_s:
                kept.append(block)
            elif block.t_max >= time_s:
                rows = block.times >= time_s
                kept.append(
                    _Block(block.vectors[rows], block.norms[rows], block.ids[rows], block.times[rows],
                           block.cameras[rows])
                )  # fmt: skip
        self._blocks = kept
        return before - len(self)

    def memory_bytes(self) -> int:
        """Bytes the sightings hold: descriptors, norms, ids, times and camera codes."""
        self._seal()
        return sum(
            b.vectors.nbytes + b.norms.nbytes + b.ids.nbytes + b.times.nbytes + b.cameras.nbytes
            for b in self._blocks
        )

    def search(
        self,
        query: Vectors,
        *,
        since_s: int,
        until_s: int,
        k: int = 100,
        max_distance: float = MATCH_DISTANCE,
    ) -> list[SightingHit]:
        """The `k` sightings nearest one descriptor within [since_s, until_s] and `max_distance`."""
        self._seal()
        q = _vectors(np.asarray(query).reshape(1, DIM))[0]
        q_norm = float(q @ q)
        limit = max_distance * max_distance
        found: list[tuple[npt.NDArray[np.float32], _Block, npt.NDArray[np.intp]]] = []
        for block in self._blocks:
            if block.t_max < since_s or block.t_min > until_s:
                continue
            squared = block.norms - 2 * (block.vectors @ q) + q_norm
            keep = squared <= limit
            if block.t_min < since_s or block.t_max > until_s:
                keep &= (block.times >= since_s) & (block.times <= until_s)
            rows = np.flatnonzero(keep)
            if len(rows) > k:
                rows = rows[np.argpartition(squared[rows], k)[:k]]
            found.append((squared[rows], block, rows))
        hits = [
            SightingHit(
                int(block.ids[r]),
                float(np.sqrt(max(float(d), 0.0))),
                int(block.times[r]),
                self._cameras[block.cameras[r]],
            )
            for squared, block, rows in found
            for d, r in zip(squared, rows, strict=True)
        ]
        hits.sort(key=lambda h: h.distance)
        return hits[:k]
