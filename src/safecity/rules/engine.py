"""The micro-batch rule engine: buffer record batches, evaluate every rule, hand findings on.

A batch is evaluated when `flush_rows` records are waiting or `flush_ms` after the first of
them arrived, whichever comes first, so a lone stolen-bike read waits at most 50 ms.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import polars as pl
import structlog
from prometheus_client import Counter, Histogram

from safecity.bus.base import Subscription
from safecity.core.clock import Clock
from safecity.core.finding import Finding
from safecity.rules.base import Facts, Rule
from safecity.rules.config import RulesFile
from safecity.rules.hotlist import HotlistRule
from safecity.rules.offline import DeviceOfflineRule
from safecity.rules.tamper import TagTamperRule

log = structlog.get_logger(__name__)

FINDINGS = Counter("safecity_rule_findings_total", "Findings by rule", ["rule"])
RULE_ERRORS = Counter("safecity_rule_errors_total", "Rule evaluations that raised", ["rule"])
EVAL_SECONDS = Histogram(
    "safecity_rules_batch_seconds",
    "Time to evaluate one micro-batch",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)

EVALUATORS: dict[str, Callable[..., Rule]] = {
    "hotlist": HotlistRule,
    "tag_tamper": TagTamperRule,
    "device_offline": DeviceOfflineRule,
}


def build_rules(config: RulesFile) -> list[Rule]:
    """Instantiate the enabled rules of a validated rules file."""
    return [EVALUATORS[r.kind](r) for r in config.rules if r.enabled]


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
        """Consume record batches forever, evaluating micro-batches and ticking time rules."""
        pending: list[pl.DataFrame] = []
        acks: list[Callable[[], object]] = []
        rows = 0
        deadline: float | None = None
        next_tick = time.monotonic() + tick_s
        iterator = aiter(subscription)
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            timeout = (
                min(timeout, max(0.0, next_tick - time.monotonic()))
                if timeout is not None
                else (max(0.0, next_tick - time.monotonic()))
            )
            try:
                delivery = await asyncio.wait_for(anext(iterator), timeout=timeout)
            except TimeoutError:
                delivery = None
            except StopAsyncIteration:
                break
            if delivery is not None and isinstance(delivery.payload, pl.DataFrame):
                pending.append(delivery.payload)
                acks.append(delivery.ack)
                rows += delivery.payload.height
                deadline = deadline or time.monotonic() + self._flush_s
            if pending and (rows >= self._flush_rows or time.monotonic() >= (deadline or 0)):
                batch = pl.concat(pending) if len(pending) > 1 else pending[0]
                findings = await asyncio.to_thread(self.evaluate, batch)
                if findings:
                    await _maybe_await(handle(findings))
                for ack in acks:
                    await _maybe_await(ack())
                pending, acks, rows, deadline = [], [], 0, None
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick_s
                findings = await asyncio.to_thread(self.tick)
                if findings:
                    await _maybe_await(handle(findings))


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        await value
