"""Edge hysteresis per subject, carried across batches: one exit and one return, not one per jitter.

A subject is in (inside its zones, on its route) or out. The value per fix is a signed distance
in metres, positive outside (for a route: the distance beyond the allowed one). A subject goes
out only on a decisive fix: more than `exit_margin_m` outside, or the `exit_after_fixes`-th
outside fix in a row (a slow drift out that never clears the margin still counts). It comes back
only on a fix more than `enter_margin_m` inside. Anything between leaves the state as it was, so
a track jittering across the edge changes nothing. Vectorised: the state after each fix is the
kind of the last decisive fix before it, a forward fill per subject.

Fixes are taken in time order within each subject (a batch is sorted here); a fix arriving after
a later one of its subject in an earlier batch is judged in arrival order. A subject never seen
starts in, so one first seen far out raises an exit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from safecity.tracking.plane import Floats

Ints = NDArray[np.int64]

IN, OUT = 0, 1


@dataclass(frozen=True, slots=True)
class Transitions:
    """State changes in a batch, in subject then time order; `fix` is the deciding fix's batch index."""

    subject: Ints
    ts_ms: Ints
    went_out: NDArray[np.bool_]  # True: exit (off route); False: return
    fix: Ints

    def __len__(self) -> int:
        return len(self.subject)

    def renumbered(self, order: Ints) -> Transitions:
        """The same transitions with `fix` mapped through `order` (fed sorted, reported as given)."""
        return Transitions(self.subject, self.ts_ms, self.went_out, order[self.fix])


class Hysteresis:
    """The in/out state machine of `subjects` subjects (numbered 0..n-1), fed batch by batch."""

    def __init__(
        self,
        subjects: int,
        *,
        exit_margin_m: float,
        enter_margin_m: float,
        exit_after_fixes: int | None = None,
    ) -> None:
        if exit_margin_m < 0 or enter_margin_m < 0:
            raise ValueError("hysteresis margins are distances, 0 or more")
        if exit_after_fixes is not None and exit_after_fixes < 1:
            raise ValueError("exit_after_fixes counts fixes: 1 or more, or None")
        self.exit_margin_m = exit_margin_m
        self.enter_margin_m = enter_margin_m
        self.exit_after_fixes = exit_after_fixes
        self.state = np.full(subjects, IN, dtype=np.int8)
        self.run = np.zeros(subjects, dtype=np.int64)  # outside fixes in a row at the end of the last batch

    def reset(self, subject: Ints) -> None:
        """Start these subjects afresh (in, no outside run): a vehicle on a new trip, a wearer's new zones."""
        self.state[subject] = IN
        self.run[subject] = 0

    def step(
        self, subject: Ints, ts_ms: Ints, value_m: Floats, watched: NDArray[np.bool_] | None = None
    ) -> Transitions:
        """Feed a batch (fixes not `watched` are skipped: they neither count nor break a run)."""
        rows = np.arange(len(subject)) if watched is None else np.flatnonzero(watched)
        order = rows[by_subject_then_time(subject[rows], ts_ms[rows])]
        s, v = subject[order], value_m[order]
        n = len(order)
        i = np.arange(n)
        first = np.r_[True, s[1:] != s[:-1]] if n else np.zeros(0, dtype=bool)
        head = np.maximum.accumulate(np.where(first, i, 0))  # each fix's subject's first row
        outside = v > 0
        run = self._runs(s, outside, first, head, i)
        went_out = outside & (v > self.exit_margin_m)
        if self.exit_after_fixes is not None:
            went_out |= run >= self.exit_after_fixes
        decisive = went_out | (v < -self.enter_margin_m)
        last = np.maximum.accumulate(np.where(decisive, i, -1))
        carried = self.state[s]
        state = np.where(last >= head, went_out[np.maximum(last, 0)].astype(np.int8), carried)
        before = np.where(first, carried, np.r_[np.int8(IN), state[:-1]])
        changed = np.flatnonzero(state != before)
        tail = np.flatnonzero(np.r_[first[1:], True]) if n else np.zeros(0, dtype=np.int64)
        self.state[s[tail]] = state[tail]
        self.run[s[tail]] = run[tail]
        return Transitions(s[changed], ts_ms[order[changed]], state[changed] == OUT, order[changed])

    def _runs(
        self, s: Ints, outside: NDArray[np.bool_], first: NDArray[np.bool_], head: Ints, i: Ints
    ) -> Ints:
        """Outside fixes in a row up to each fix (0 when inside), continuing the last batch's run."""
        if not len(s):
            return np.zeros(0, dtype=np.int64)
        resets = first | np.r_[True, ~outside[:-1]]
        begin = np.maximum.accumulate(np.where(resets, i, 0))
        run = i - begin + 1 + np.where(begin == head, self.run[s], 0)
        return np.where(outside, run, 0)


def by_subject_then_time(subject: Ints, ts_ms: Ints) -> Ints:
    """The order of fixes by subject, then time: one sort of a combined key when the times fit in it."""
    if not len(subject):
        return np.zeros(0, dtype=np.int64)
    span = int(ts_ms.max()) - int(ts_ms.min())
    if span < 2**40 and int(subject.max()) < 2**22:  # 40 bits of milliseconds are 34 years
        return np.argsort((subject.astype(np.int64) << 40) | (ts_ms - ts_ms.min()), kind="stable")
    return np.lexsort((ts_ms, subject))
