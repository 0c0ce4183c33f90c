"""The maximal covering location problem: the heuristic and the exact solver against exhaustive
search on small instances, and the reduction that both rely on."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix

from safecity.dispatch.mclp import MclpError, Problem, exact, gap_pct, heuristic, reduce


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    posts = draw(st.integers(2, 8))
    points = draw(st.integers(1, 14))
    cells = draw(st.lists(st.booleans(), min_size=posts * points, max_size=posts * points))
    weights = draw(st.lists(st.integers(0, 9), min_size=points, max_size=points))
    units = draw(st.integers(1, posts))
    cover = csr_matrix(np.array(cells, dtype=bool).reshape(posts, points))
    return Problem(cover, np.array(weights, dtype=np.float64), units)


def best_by_exhaustion(problem: Problem) -> float:
    posts = problem.cover.shape[0]
    return max(problem.covered(np.array(c)) for c in itertools.combinations(range(posts), problem.units))


@settings(max_examples=200, deadline=None)
@given(problems())
def test_the_exact_solver_finds_the_exhaustive_optimum(problem: Problem) -> None:
    solved = exact(problem)
    assert solved.optimal
    assert len(solved.posts) == problem.units == len(set(solved.posts.tolist()))
    assert math.isclose(solved.covered, best_by_exhaustion(problem))
    assert math.isclose(solved.covered, problem.covered(solved.posts))
    assert solved.bound >= solved.covered - 1e-9


@settings(max_examples=200, deadline=None)
@given(problems())
def test_the_heuristic_chooses_distinct_posts_and_never_beats_the_optimum(problem: Problem) -> None:
    found = heuristic(problem)
    best = best_by_exhaustion(problem)
    assert len(found.posts) == problem.units == len(set(found.posts.tolist()))
    assert math.isclose(found.covered, problem.covered(found.posts))
    assert found.covered <= best + 1e-9
    # Interchange leaves no single swap that improves the cover (a local optimum).
    chosen = set(found.posts.tolist())
    for out in chosen:
        for j in set(range(problem.cover.shape[0])) - chosen:
            swapped = np.array(sorted(chosen - {out} | {j}))
            assert problem.covered(swapped) <= found.covered + 1e-9


def test_the_heuristic_is_optimal_on_most_small_instances_and_close_on_the_rest() -> None:
    rng = np.random.default_rng(7)
    gaps = []
    for _ in range(60):
        cover = csr_matrix(rng.random((10, 40)) < 0.2)
        problem = Problem(cover, rng.integers(1, 10, 40).astype(np.float64), 3)
        optimum = exact(problem)
        assert math.isclose(optimum.covered, best_by_exhaustion(problem))
        gaps.append(gap_pct(heuristic(problem), optimum))
    assert sum(g == 0 for g in gaps) >= 50, gaps
    assert max(gaps) < 10, gaps


def test_greedy_alone_is_not_optimal_but_interchange_repairs_it() -> None:
    # Post 0 covers the most (points 1-4) and greedy takes it first; posts 1 and 2 together cover
    # all six points, which only a swap finds.
    cover = csr_matrix(
        np.array(
            [
                [0, 1, 1, 1, 1, 0],
                [1, 1, 1, 0, 0, 0],
                [0, 0, 0, 1, 1, 1],
            ],
            dtype=bool,
        )
    )
    problem = Problem(cover, np.ones(6), 2)
    assert heuristic(problem).covered == 6.0
    assert heuristic(problem).posts.tolist() == [1, 2]


def test_reduction_merges_points_with_the_same_posts_and_drops_unreached_ones() -> None:
    cover = csr_matrix(np.array([[1, 1, 0, 0, 1], [0, 0, 1, 0, 0]], dtype=bool))
    merged, weights = reduce(Problem(cover, np.array([1.0, 2.0, 4.0, 8.0, 16.0]), 1))
    # points 0, 1 and 4 share post 0; point 2 alone has post 1; point 3 no post at all
    assert merged.shape == (2, 2)
    assert sorted(weights.tolist()) == [4.0, 19.0]


@pytest.mark.parametrize(
    ("cover", "weights", "units", "message"),
    [
        (np.ones((2, 3), bool), [1.0, 1.0], 1, "2 weights for 3 demand points"),
        (np.ones((2, 3), bool), [1.0, 1.0, 1.0], 3, "cannot choose 3 posts out of 2"),
        (np.ones((2, 3), bool), [1.0, 1.0, 1.0], 0, "cannot choose 0 posts"),
        (np.ones((2, 3), bool), [1.0, -1.0, 1.0], 1, "cannot be negative"),
    ],
)
def test_a_problem_that_cannot_be_posed_is_refused_saying_why(
    cover: np.ndarray, weights: list[float], units: int, message: str
) -> None:
    with pytest.raises(MclpError, match=message):
        Problem(csr_matrix(cover), np.array(weights), units)


def test_no_demand_reached_gives_an_empty_cover_not_an_error() -> None:
    problem = Problem(csr_matrix(np.zeros((3, 4), bool)), np.ones(4), 2)
    assert heuristic(problem).covered == exact(problem).covered == 0.0
    assert len(exact(problem).posts) == 2


def test_current_posts_that_are_already_best_are_kept_over_an_equal_cover_elsewhere() -> None:
    # Posts 0 and 1 cover everything; so do 1 and 2, which greedy picks (post 2 has the most
    # gain). Starting from the current 0 and 1, nothing moves.
    cover = csr_matrix(
        np.array(
            [
                [1, 1, 0, 0],
                [0, 0, 1, 1],
                [1, 1, 1, 0],
                [0, 0, 0, 1],
            ],
            dtype=bool,
        )
    )
    problem = Problem(cover, np.ones(4), 2)
    assert heuristic(problem).posts.tolist() == [1, 2]
    assert heuristic(problem, current=np.array([0, 1])).posts.tolist() == [0, 1]
    # and a current choice that covers less is improved
    assert heuristic(problem, current=np.array([0, 3])).covered == 4.0
    with pytest.raises(MclpError, match="1 current posts for 2 units"):
        heuristic(problem, current=np.array([0]))


def test_a_move_is_suggested_only_when_it_buys_at_least_its_cost_in_cover() -> None:
    # Units at posts 0 and 1 cover points 0-3 (weight 4); post 2 in place of post 1 keeps point 3
    # and adds points 4 and 5 (weight 3).
    cover = csr_matrix(
        np.array(
            [
                [1, 1, 1, 0, 0, 0],
                [0, 0, 0, 1, 0, 0],
                [0, 0, 0, 1, 1, 1],
            ],
            dtype=bool,
        )
    )
    problem = Problem(cover, np.array([1.0, 1.0, 1.0, 1.0, 1.0, 2.0]), 2)
    here = np.array([0, 1])
    # Moving the unit at post 1 to post 2 covers 3 more.
    assert heuristic(problem, current=here, move_cost=2.9).posts.tolist() == [0, 2]
    assert heuristic(problem, current=here, move_cost=3.1).posts.tolist() == [0, 1]
    assert heuristic(problem, current=here, move_cost=3.1).covered == 4.0
