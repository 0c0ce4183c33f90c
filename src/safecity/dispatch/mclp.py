"""Where to stand the units: the maximal covering location problem (Church and ReVelle, 1974).

Given demand points with weights (past incidents, residents), candidate posts, and which posts
reach which points within the response standard (`RoadNetwork.cover`), choose `units` posts that
cover the most demand. Two solvers over the same `Problem` (decision 0015):

* `heuristic`, for the live desk: greedy by marginal cover, then best-improvement interchange
  (Teitz and Bart) until no single swap of a chosen post for another improves the cover, from a
  few beginnings (the plain greedy one and randomised ones). Every step is one sparse product
  over the whole problem, so 500 posts and 10,000 points take about a second.
* `exact`, for planning: the integer programme, solved to optimality (or to its time limit, with
  the solver's bound) by HiGHS through SciPy's `milp`.

Both first merge demand points that the same posts cover (their weights add up); at city scale
that shrinks the programme several times over without changing any answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csc_matrix, csr_matrix, hstack, identity

from safecity.dispatch.roads import FloatArray, IntArray


class MclpError(ValueError):
    """A problem that cannot be posed (say, more units than posts)."""


@dataclass(frozen=True)
class Problem:
    """Posts x points coverage, the points' weights, and how many posts to choose."""

    cover: csr_matrix  # boolean: post j reaches point i within the standard
    weights: FloatArray
    units: int

    def __post_init__(self) -> None:
        posts, points = self.cover.shape
        if len(self.weights) != points:
            raise MclpError(f"{len(self.weights)} weights for {points} demand points")
        if not 0 < self.units <= posts:
            raise MclpError(f"cannot choose {self.units} posts out of {posts}")
        if (np.asarray(self.weights) < 0).any():
            raise MclpError("demand weights cannot be negative")

    @property
    def total(self) -> float:
        return float(np.sum(self.weights))

    def covered(self, posts: IntArray) -> float:
        """The weight of the points that at least one of `posts` reaches."""
        hit = np.asarray(self.cover[np.asarray(posts, np.int64)].sum(axis=0)).ravel() > 0
        return float(self.weights[hit].sum())


@dataclass(frozen=True)
class Solution:
    posts: IntArray  # the chosen posts' indices, ascending
    covered: float  # weight covered
    total: float  # all the demand's weight
    seconds: float
    method: str  # "heuristic" | "exact"
    optimal: bool  # proven optimal (exact, finished within its time limit)
    bound: float  # no choice covers more than this (the heuristic's: its own cover)

    @property
    def share(self) -> float:
        return self.covered / self.total if self.total else 0.0


def gap_pct(heuristic: Solution, exact: Solution) -> float:
    """How far the heuristic's cover falls short of the exact one's, in percent of the exact."""
    if exact.covered <= 0:
        return 0.0
    return max(0.0, 100.0 * (exact.covered - heuristic.covered) / exact.covered)


def reduce(problem: Problem) -> tuple[csc_matrix, FloatArray]:
    """The points no post reaches dropped and the points with the same covering posts merged:
    (posts x groups coverage as CSC, the groups' weights)."""
    cover = csc_matrix(problem.cover, dtype=np.float64)
    cover.sum_duplicates()
    cover.sort_indices()
    reached = np.diff(cover.indptr) > 0
    cover = cover[:, np.flatnonzero(reached)]
    weights = np.asarray(problem.weights, np.float64)[reached]
    if not len(weights):
        return cover, weights
    # Two random signatures per column: identical covering sets sum the same values in the
    # same (sorted) order, so they give bit-identical floats; different sets practically never do.
    rng = np.random.default_rng(0)
    signature = np.stack([cover.T @ rng.random(cover.shape[0]), cover.T @ rng.random(cover.shape[0])], axis=1)
    _, first, group = np.unique(signature, axis=0, return_index=True, return_inverse=True)
    merged: FloatArray = np.bincount(group.ravel(), weights=weights, minlength=len(first)).astype(np.float64)
    return csc_matrix(cover[:, first]), merged


def heuristic(
    problem: Problem,
    *,
    starts: int = 8,
    max_rounds: int = 200,
    seed: int = 0,
    current: IntArray | None = None,
    move_cost: float = 0.0,
) -> Solution:
    """Greedy, then best-improvement interchange, from `starts` beginnings: the plain greedy one
    and randomised ones (each step picks among the posts within 10 % of the best gain), keeping
    the best cover. Interchange alone stops at the first local optimum; a few other beginnings
    find better ones for milliseconds each.

    Given the `current` posts (where the units stand), they are one more beginning and win ties,
    and every post changed from them must buy at least `move_cost` of demand: a swap is made only
    for that much more cover, and a choice is scored by its cover less `move_cost` per changed
    post. Units are then moved only where it is worth the drive, not shuffled for a sliver."""
    started = time.perf_counter()
    cover, weights = reduce(problem)
    a = csr_matrix(cover)
    rng = np.random.default_rng(seed)
    here: set[int] = set()
    beginnings: list[list[int] | None] = [None] * max(0 if current is not None else 1, starts)
    if current is not None:
        here = {int(j) for j in current}
        if len(here) != problem.units:
            raise MclpError(f"{len(current)} current posts for {problem.units} units")
        beginnings = [sorted(here), *beginnings]
    best: tuple[float, float, list[int]] | None = None  # score, cover, posts
    greedy_done = False
    for beginning in beginnings:
        if beginning is None:
            chosen, count = _greedy(a, weights, problem.units, rng if greedy_done else None)
            greedy_done = True
        else:
            chosen = list(beginning)
            count = np.zeros(len(weights), dtype=np.int64)
            for j in chosen:
                count[_row(a, j)] += 1
        chosen, count = _interchange(a, weights, chosen, count, max_rounds, move_cost)
        covered = float(weights[count > 0].sum())
        score = covered - move_cost * len(set(chosen) - here) if here else covered
        if best is None or score > best[0] + 1e-9:
            best = (score, covered, chosen)
    assert best is not None
    return Solution(
        posts=np.sort(np.array(best[2], dtype=np.int64)),
        covered=best[1],
        total=problem.total,
        seconds=time.perf_counter() - started,
        method="heuristic",
        optimal=False,
        bound=best[1],
    )


def _row(a: csr_matrix, j: int) -> IntArray:
    """The demand groups post j reaches."""
    return a.indices[a.indptr[j] : a.indptr[j + 1]]


def _greedy(
    a: csr_matrix, weights: FloatArray, units: int, rng: np.random.Generator | None
) -> tuple[list[int], IntArray]:
    """Posts by marginal cover (randomised among near-best gains when given `rng`), with how many
    chosen posts reach each demand group."""
    count = np.zeros(len(weights), dtype=np.int64)
    free = np.ones(a.shape[0], dtype=bool)
    chosen: list[int] = []
    for _ in range(units):
        gains = a @ (weights * (count == 0))
        gains[~free] = -1.0
        top = float(gains.max())
        if rng is None or top <= 0:
            j = int(np.argmax(gains))
        else:
            j = int(rng.choice(np.flatnonzero(gains >= 0.9 * top)))
        chosen.append(j)
        free[j] = False
        count[_row(a, j)] += 1
    return chosen, count


def _interchange(
    a: csr_matrix,
    weights: FloatArray,
    chosen: list[int],
    count: IntArray,
    max_rounds: int,
    least: float = 0.0,
) -> tuple[list[int], IntArray]:
    """Best-improvement swaps of one chosen post for one free post until none improves the cover
    by at least `least`."""
    free = np.ones(a.shape[0], dtype=bool)
    free[chosen] = False
    for _ in range(max_rounds):
        best_delta, best_swap = max(least, 1e-9), None
        for k, out in enumerate(chosen):
            only = np.zeros(len(weights), dtype=bool)
            row = _row(a, out)
            only[row[count[row] == 1]] = True
            loss = float(weights[only].sum())
            # Uncovered once `out` leaves: the uncovered now, and the groups only it reached.
            gains = a @ (weights * ((count == 0) | only))
            gains[~free] = -1.0
            j = int(np.argmax(gains))
            delta = float(gains[j]) - loss
            if delta > best_delta:
                best_delta, best_swap = delta, (k, j)
        if best_swap is None:
            break
        k, j = best_swap
        out = chosen[k]
        count[_row(a, out)] -= 1
        count[_row(a, j)] += 1
        chosen[k] = j
        free[out], free[j] = True, False
    return chosen, count


def exact(problem: Problem, *, time_limit_s: float = 60.0) -> Solution:
    """The integer programme: maximise covered weight, y_i <= sum of the x_j covering i, and
    exactly `units` x_j. Optimal unless the time limit stops it (then `bound` says how far off)."""
    started = time.perf_counter()
    cover, weights = reduce(problem)
    posts, groups = cover.shape
    if groups == 0:
        chosen = np.arange(problem.units, dtype=np.int64)
        return Solution(chosen, 0.0, problem.total, time.perf_counter() - started, "exact", True, 0.0)
    # Variables: x (posts, binary) then y (groups, continuous 0..1: integral at any optimum).
    objective = np.concatenate([np.zeros(posts), -weights])
    link = hstack([-cover.T, identity(groups, format="csr")], format="csr")  # y_i - sum x_j <= 0
    count = csr_matrix(np.concatenate([np.ones(posts), np.zeros(groups)])[None, :])
    constraints = [
        LinearConstraint(link, -np.inf, 0.0),
        LinearConstraint(count, problem.units, problem.units),
    ]
    integrality = np.concatenate([np.ones(posts), np.zeros(groups)])
    result = milp(
        objective,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        constraints=constraints,
        options={"time_limit": time_limit_s, "mip_rel_gap": 1e-6},
    )
    if result.x is None:
        raise MclpError(f"the solver found no solution: {result.message}")
    x = result.x[:posts]
    chosen = np.sort(np.argsort(-x, kind="stable")[: problem.units]).astype(np.int64)
    covered = problem.covered(chosen)
    bound = -float(result.mip_dual_bound) if result.mip_dual_bound is not None else covered
    return Solution(
        posts=chosen,
        covered=covered,
        total=problem.total,
        seconds=time.perf_counter() - started,
        method="exact",
        optimal=result.status == 0,
        bound=max(bound, covered),
    )


__all__ = ["MclpError", "Problem", "Solution", "exact", "gap_pct", "heuristic", "reduce"]
