"""The micro-batch rule engine: buffer record batches, evaluate every rule, hand findings on.

A batch is evaluated as soon as nothing more is waiting on the bus, when `flush_rows` records
are waiting, or `flush_ms` after the first of them arrived, whichever comes first: a lone
stolen-bike read is evaluated at once, and a busy stream in batches that wait at most 50 ms.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import polars as pl
import structlog
from prometheus_client import Counter, Histogram

from safecity.bus import Delivery, Subscription
from safecity.core.clock import Clock
from safecity.core.finding import Finding
from safecity.rules.base import Facts, Rule
from safecity.rules.config import RulesFile
from safecity.rules.kinds import rule_kinds

log = structlog.get_logger(__name__)

FINDINGS = Counter("safecity_rule_findings_total", "Findings by rule", ["rule"])
RULE_ERRORS = Counter("safecity_rule_errors_total", "Rule evaluations that raised", ["rule"])
HANDOFF_ERRORS = Counter("safecity_rule_handoff_errors_total", "Finding batches the alert service refused")
EVAL_SECONDS = Histogram(
    "safecity_rules_batch_seconds",
    "Time to evaluate one micro-batch",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


def build_rules(config: RulesFile) -> list[Rule]:
    """Instantiate the enabled rules of a validated rules file with their kinds' evaluators."""
    kinds = rule_kinds()
    return [kinds[r.kind].evaluator(r) for r in config.rules if r.enabled]


class RuleEngine:
    """Evaluates rules over micro-batches; one rule failing never stops the others."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        facts: Facts,
        clock: Clock,
        flush_ms: int = 50,
        flush_rows: int = 50_000,
    ) -> None:
        self.rules = list(rules)
        self._facts = facts
        self._clock = clock
        self._flush_s = flush_ms / 1000
        self._flush_rows = flush_rows

    def evaluate(self, batch: pl.DataFrame, now: datetime | None = None) -> list[Finding]:
        """Run every rule over one batch."""
        now = now or self._clock.now()
        with EVAL_SECONDS.time():
            return self._each(lambda rule: rule.evaluate(batch, self._facts, now))

    def tick(self, now: datetime | None = None) -> list[Finding]:
        """Give time-based rules their turn."""
        now = now or self._clock.now()
        return self._each(lambda rule: rule.tick(self._facts, now))

    def _each(self, call: Callable[[Rule], list[Finding]]) -> list[Finding]:
        found: list[Finding] = []
        for rule in self.rules:
            try:
                out = call(rule)
            except Exception:
                RULE_ERRORS.labels(rule.name).inc()
                log.exception("rules.evaluation_failed", rule=rule.name)
                continue
            FINDINGS.labels(rule.name).inc(len(out))
            found += out
        return found

    async def run(
        self, subscription: Subscription, handle: Callable[[list[Finding]], object], *, tick_s: float = 10.0
    ) -> None:
        """Consume record batches until the subscription ends, evaluating micro-batches and ticking."""
        batch = _MicroBatch()
        next_tick = time.monotonic() + tick_s
        iterator = aiter(subscription)
        # One read stays pending across timeouts: cancelling `anext()` of an async generator
        # (as wait_for does on timeout) finalises the generator and ends the subscription.
        reading: asyncio.Future[Any] | None = None
        try:
            while True:
                wake = next_tick if batch.deadline is None else min(batch.deadline, next_tick)
                if reading is None:
                    reading = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({reading}, timeout=max(0.0, wake - time.monotonic()))
                if done:
                    finished, reading = reading, None
                    try:
                        batch.add(finished.result(), self._flush_s)
                    except StopAsyncIteration:
                        break
                    # Greedy: take what is already waiting, but never wait for more. A lone read
                    # is evaluated at once; under load, batches grow while the last one is evaluated.
                    reading = asyncio.ensure_future(anext(iterator))
                    await asyncio.sleep(0)
                    if not reading.done():
                        batch.deadline = time.monotonic()
                if batch.frames and (
                    batch.rows >= self._flush_rows or time.monotonic() >= (batch.deadline or 0)
                ):
                    frames, acks = batch.take()
                    frame = pl.concat(frames) if len(frames) > 1 else frames[0]
                    if await self._hand_on(await asyncio.to_thread(self.evaluate, frame), handle):
                        for ack in acks:
                            await _maybe_await(ack())
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + tick_s
                    await self._hand_on(await asyncio.to_thread(self.tick), handle)
        finally:
            if reading is not None:
                reading.cancel()

    @staticmethod
    async def _hand_on(findings: list[Finding], handle: Callable[[list[Finding]], object]) -> bool:
        """Give findings to the alert service; on failure keep running (a persistent bus redelivers)."""
        if not findings:
            return True
        try:
            await _maybe_await(handle(findings))
        except Exception:
            HANDOFF_ERRORS.inc()
            log.exception("rules.findings_not_handled", findings=len(findings))
            return False
        return True


class _MicroBatch:
    """Frames waiting for evaluation, their acknowledgements, and when they must be evaluated."""

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.acks: list[Callable[[], object]] = []
        self.rows = 0
        self.deadline: float | None = None

    def add(self, delivery: Delivery, flush_s: float) -> None:
        """Queue a delivered record batch (other payloads are acknowledged by being ignored)."""
        if isinstance(delivery.payload, pl.DataFrame):
            self.frames.append(delivery.payload)
            self.acks.append(delivery.ack)
            self.rows += delivery.payload.height
            self.deadline = self.deadline or time.monotonic() + flush_s

    def take(self) -> tuple[list[pl.DataFrame], list[Callable[[], object]]]:
        """Empty the batch, returning its frames and acknowledgements."""
        out = (self.frames, self.acks)
        self.frames, self.acks, self.rows, self.deadline = [], [], 0, None
        return out


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        await value
