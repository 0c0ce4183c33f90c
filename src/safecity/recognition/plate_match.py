"""Fuzzy hot-list matching: a read plate against listed ones, the OCR's typical confusions cheap.

Distance is a weighted edit distance: inserting, deleting or replacing a character costs 1, but
replacing it with one the recogniser confuses it with costs `CONFUSION_COST` (a half). The
confusions are those of PP-OCR on plates (0 D O Q U, 8 B, 1 I 7 T, 2 Z, 4 A, 5 S, 6 G) and of
province characters that look alike when blurred, grouped by shape:

* water radical on the left (氵): 津 沪 渝 湘 浙
* a roof or lid over a box (亠 宀 士): 京 宁 吉
* dense left-right characters a low-resolution crop turns into one blot: 鄂 豫 赣 冀
* top-bottom with a 日/月 or 贝 foot: 贵 青 晋

(the groups come from the misreads measured on rendered plates, `bench/plates.py`: 浙 read as 浦,
豫 as 鄂, 贵 as 责, and from the radicals the characters share.)

The index must answer well under a millisecond against 100,000 listed plates. Replacing a
character by a confusable one costs a half, so each plate is folded (every character replaced by
its group's first) and a read within weighted distance D of a listed plate is within plain edit
distance floor(D) of it once both are folded. Each folded plate is indexed under its deletion
neighbourhood (every string left by deleting up to floor(D) characters; SymSpell's idea): two
strings within edit distance k share a key, so looking up the read's own neighbourhood finds
every candidate, and only those few are measured exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import NamedTuple

from safecity.core.ids import normalise_plate

CONFUSION_COST = 0.5
CONFUSION_GROUPS: tuple[str, ...] = (
    "0DOQU",
    "8B",
    "1I7T",
    "2Z",
    "4A",
    "5S",
    "6G",
    "津沪渝湘浙",
    "京宁吉",
    "鄂豫赣冀",
    "贵青晋",
)
_FOLD = {c: group[0] for group in CONFUSION_GROUPS for c in group}


class PlateEntry(NamedTuple):
    """A listed plate: the watchlist entry's id, the plate and the list it is on."""

    entry_id: int
    plate: str
    list_kind: str


@dataclass(frozen=True, slots=True)
class Match:
    """A listed plate within its list's distance of a read."""

    entry_id: int
    list_kind: str
    plate: str
    distance: float


def fold(plate: str) -> str:
    """The plate with each confusable character replaced by its group's first."""
    return "".join(_FOLD.get(c, c) for c in plate)


def substitution_cost(a: str, b: str) -> float:
    """What replacing one character by another costs: 0, a half for a confusion, else 1."""
    if a == b:
        return 0.0
    fa = _FOLD.get(a)
    return CONFUSION_COST if fa is not None and fa == _FOLD.get(b) else 1.0


def plate_distance(a: str, b: str, limit: float = float("inf")) -> float:
    """Weighted edit distance; above `limit` it may stop early and answer any value over it."""
    if a == b:
        return 0.0
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:  # each character more or fewer costs 1
        return float(abs(la - lb))
    if la == lb:
        # Same length: an alignment with an insertion needs a deletion too (2 at least), so up to
        # 2 the substitutions alone are the distance, without the table.
        hamming = 0.0
        for ca, cb in zip(a, b, strict=True):
            if ca != cb:
                hamming += substitution_cost(ca, cb)
                if hamming > limit and limit < 2:
                    return hamming
        if hamming <= 2:
            return hamming
    # Only cells within `band` of the diagonal can be reached for at most `limit`: each step off
    # it is an insertion or deletion, costing 1. Outside, a cell is infinitely far.
    band = lb if limit == float("inf") else int(limit)
    inf = float("inf")
    previous = [float(j) if j <= band else inf for j in range(lb + 1)]
    for i in range(1, la + 1):
        current = [float(i) if i <= band else inf] + [inf] * lb
        ca = a[i - 1]
        row_min = current[0]
        for j in range(max(1, i - band), min(lb, i + band) + 1):
            cb = b[j - 1]
            sub = previous[j - 1] + (0.0 if ca == cb else substitution_cost(ca, cb))
            cost = min(previous[j] + 1.0, current[j - 1] + 1.0, sub)
            current[j] = cost
            row_min = min(row_min, cost)
        if row_min > limit:  # every path through this row already costs more
            return row_min
        previous = current
    return previous[lb]


def _neighbourhood(key: str, depth: int) -> set[str]:
    """Every string left by deleting up to `depth` characters of `key` (itself included)."""
    out = {key}
    for k in range(1, min(depth, len(key)) + 1):
        for gone in combinations(range(len(key)), k):
            out.add("".join(c for i, c in enumerate(key) if i not in gone))
    return out


class PlateMatcher:
    """Listed plates indexed for fuzzy lookup, each list with its own maximum distance."""

    def __init__(self, entries: list[PlateEntry], thresholds: Mapping[str, float]) -> None:
        self._entries = entries
        self._thresholds = dict(thresholds)
        self._depth = int(max(self._thresholds.values(), default=0.0))
        index: dict[str, list[int]] = defaultdict(list)
        for position, entry in enumerate(entries):
            for key in _neighbourhood(fold(entry.plate), self._depth):
                index[key].append(position)
        self._index = dict(index)

    @classmethod
    def build(
        cls, entries: Iterable[tuple[int, str, str] | PlateEntry], thresholds: Mapping[str, float]
    ) -> PlateMatcher:
        """The matcher of `(entry_id, plate, list_kind)` entries; lists without a threshold match exactly."""
        listed = [PlateEntry(int(e), normalise_plate(p), str(k)) for e, p, k in entries]
        return cls(listed, thresholds)

    def __len__(self) -> int:
        return len(self._entries)

    def match(self, plate: str) -> list[Match]:
        """Listed plates within their list's distance of the read, nearest first."""
        read = normalise_plate(plate)
        candidates: set[int] = set()
        for key in _neighbourhood(fold(read), self._depth):
            candidates.update(self._index.get(key, ()))
        found = []
        for position in candidates:
            entry = self._entries[position]
            limit = self._thresholds.get(entry.list_kind, 0.0)
            distance = plate_distance(read, entry.plate, limit)
            if distance <= limit:
                found.append(Match(entry.entry_id, entry.list_kind, entry.plate, distance))
        found.sort(key=lambda m: (m.distance, m.entry_id))
        return found


__all__ = [
    "CONFUSION_COST",
    "CONFUSION_GROUPS",
    "Match",
    "PlateEntry",
    "PlateMatcher",
    "fold",
    "plate_distance",
    "substitution_cost",
]
