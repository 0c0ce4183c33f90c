"""The composition root: builds every part from settings and runs the background workers.

Nothing else creates engines, buses or stores; each part receives only what it needs. The same
code runs embedded (SQLite, local lake, in-process bus) or distributed (PostgreSQL, NATS,
MQTT), chosen by settings alone.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import polars as pl
import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts import AlertService, AlertStream, WebhookDispatcher
from safecity.alerts.settings import AlertSettings
from safecity.bus import ALERTS, RECORDS, REGISTRY, Bus, MemoryBus
from safecity.bus.hub import EventHub
from safecity.core.capabilities import Service, extensions, installed
from safecity.core.clock import Clock, SystemClock
from safecity.core.configfile import in_force
from safecity.core.filemode import private_dir
from safecity.core.finding import Finding
from safecity.core.geo import BBox
from safecity.core.worker import Every, Task, Worker
from safecity.ingest import Deduplicator, DeviceDirectory, IngestLimits, IngestPipeline
from safecity.ingest.adapters import DeviceLinks
from safecity.ingest.settings import IngestSettings
from safecity.investigation import Investigation
from safecity.lake import Lake
from safecity.registry import Registry
from safecity.registry.events import RegistryChanged, forgetting
from safecity.rules import DEFAULT_RULES_FILE, LiveFacts, RuleEngine, build_rules, load_rules
from safecity.rules.settings import RulesSettings
from safecity.security import SYSTEM, AuditEntry, Pseudonymizer, Security
from safecity.security.audit import AuditFilter
from safecity.security.keys import load_audit_key, load_pseudonym_keys, load_token_key, refuse_keys_inside
from safecity.security.settings import SecuritySettings
from safecity.security.signin import LoginPolicy
from safecity.settings import BusBackend, Settings
from safecity.store import deliver_after_commit, make_engine, make_session_factory, upgrade_to_head
from safecity.store.db import checkpoint_sqlite

log = structlog.get_logger(__name__)
T = TypeVar("T")


def make_bus(settings: Settings) -> Bus:
    """The configured backbone."""
    if settings.bus is BusBackend.NATS:
        from safecity.bus.nats import NatsBus

        # Each stream owns its own subjects (`<stream in lower case>.>`), so several deployments
        # (or test runs) can share one NATS server without their streams overlapping.
        return NatsBus(
            settings.nats_url, stream=settings.nats_stream, subject_prefix=settings.nats_stream.lower()
        )
    return MemoryBus()


def rules_path(settings: Settings) -> Path:
    """The rules file in force: configured, else <data_dir>/rules.yaml if present, else the defaults."""
    configured = settings.section(RulesSettings).rules_file
    return in_force(configured, settings.data_dir / "rules.yaml", DEFAULT_RULES_FILE)


def city_bbox(settings: Settings) -> BBox | None:
    """The configured city box, else the generated city's, else none (globe only)."""
    configured = settings.section(IngestSettings).bbox
    if configured is not None:
        return configured
    meta = settings.city_dir / "city.json"
    if meta.exists():
        import json

        south, west, north, east = json.loads(meta.read_text())["bbox"]
        # A margin of about 2 km so that a bike ridden just out of town is still accepted.
        return BBox(south - 0.02, west - 0.02, north + 0.02, east + 0.02)
    return None


# Young objects allowed between two collections of the youngest generation (CPython: 700). The
# servers make a few dozen containers per report, nearly all freed at once by reference counting;
# at 700 the collector ran ~500 times a second, promoting in-flight batches' events to the old
# generation and so triggering ~90 full collections in a minute of load (8.4 s of 41 s of the
# tracker servers' CPU, bench/protocols.py at 5,000 connections); at 50,000: 0.2 s.
YOUNG_GC_THRESHOLD = 50_000


def freeze_long_lived() -> None:
    """Freeze everything loaded so far (modules, registry caches, the city): it lives as long as
    the process, so the collector stops re-scanning it, and a full collection during ingest costs
    a few milliseconds instead of ~100 (docs/decisions/0003, addendum 2); and let the young
    generation grow to YOUNG_GC_THRESHOLD objects before it is collected (docs/decisions/0009).
    The tracker servers' CPU per report fell from 64 to 37 µs with both (bench/protocols.py,
    which calls this too, as `Platform.start` does)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, old)


@dataclass
class Platform:
    """Every running part of safecity, wired together."""

    settings: Settings
    clock: Clock
    engine: Engine
    session_factory: sessionmaker[Session]
    bus: Bus
    lake: Lake
    devices: DeviceDirectory
    dedup: Deduplicator
    ingest: IngestPipeline
    facts: LiveFacts
    rules: RuleEngine
    alerts: AlertService
    alert_stream: AlertStream
    webhooks: WebhookDispatcher
    security: Security
    pseudonyms: Pseudonymizer
    hub: EventHub
    investigation: Investigation
    registry: Registry
    bbox: BBox | None = None
    device_links: DeviceLinks = field(default_factory=DeviceLinks)  # what reaches devices (MQTT, ...)
    services: dict[type[Any], Any] = field(default_factory=dict)  # the capabilities' use cases
    _running: list[Worker] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        wall_clock: Clock | None = None,
        migrate: bool = True,
    ) -> Platform:
        """Create every part (no background work starts until `start`).

        `clock` is the time of the city (events, rules, alerts; accelerated in the demo);
        `wall_clock` (default: the same) is the time of the people using it: sign-in, token
        lifetimes, lockouts and the audit trail.
        """
        clock = clock or SystemClock()
        if not settings.auto_generate_keys:  # production: keys never beside the data (docs/keys.md)
            refuse_keys_inside(settings.data_dir, settings.key_files)
        if private_dir(settings.data_dir, close=True):
            log.warning("platform.data_dir_closed", data_dir=str(settings.data_dir), mode="0700")
        url = settings.resolved_database_url
        if migrate:
            upgrade_to_head(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        bus = make_bus(settings)
        lake = Lake(settings.resolved_lake_dir)
        ingest_cfg = settings.section(IngestSettings)
        rules_cfg = settings.section(RulesSettings)
        alerts_cfg = settings.section(AlertSettings)
        security_cfg = settings.section(SecuritySettings)
        devices = DeviceDirectory(factory, h3_resolution=ingest_cfg.h3_resolution)
        dedup = Deduplicator(
            load=lake.event_ids,
            max_age_s=ingest_cfg.max_event_age_s,
            future_skew_s=ingest_cfg.max_future_skew_s,
            cold_bytes=ingest_cfg.dedup_cold_mb << 20,
        )
        bbox = city_bbox(settings)
        limits = IngestLimits(
            max_event_age_s=ingest_cfg.max_event_age_s,
            max_future_skew_s=ingest_cfg.max_future_skew_s,
            max_batch_events=ingest_cfg.max_batch_events,
            max_body_bytes=ingest_cfg.max_body_bytes,
            h3_resolution=ingest_cfg.h3_resolution,
            bbox=bbox,
        )

        async def publish_records(records: pl.DataFrame) -> None:
            await bus.publish(RECORDS, records)

        # Identity and phone numbers become keyed pseudonyms before anything stores them.
        pseudonyms = Pseudonymizer(
            load_pseudonym_keys(settings.resolved_pseudonym_key_file, generate=settings.auto_generate_keys)
        )
        ingest = IngestPipeline(
            session_factory=factory,
            devices=devices,
            sink=lake,
            dedup=dedup,
            limits=limits,
            clock=clock,
            pseudonymizer=pseudonyms,
            publish=publish_records,
        )
        facts = LiveFacts(factory, lambda: devices.frame)
        rules = RuleEngine(
            build_rules(load_rules(rules_path(settings))),
            facts=facts,
            clock=clock,
            flush_ms=rules_cfg.rules_flush_ms,
            flush_rows=rules_cfg.rules_flush_rows,
        )
        alerts = AlertService(
            session_factory=factory,
            clock=clock,
            publish=bus.publish,
            fallback_station_id=alerts_cfg.alert_fallback_station,
            cap_sender=alerts_cfg.cap_sender,
            cap_sender_name=alerts_cfg.cap_sender_name,
            public_url=settings.public_url,
            webhook_targets=alerts_cfg.webhook_targets,
        )
        security = Security(
            factory,
            wall_clock or clock,
            token_key=load_token_key(settings.resolved_token_key_file, generate=settings.auto_generate_keys),
            access_ttl_s=security_cfg.access_token_ttl_s,
            refresh_ttl_s=security_cfg.refresh_token_ttl_s,
            policy=LoginPolicy(
                security_cfg.login_max_failures,
                security_cfg.login_lockout_s,
                security_cfg.login_account_max_failures,
                security_cfg.login_account_delay_s,
            ),
            enrolment_ttl_s=security_cfg.totp_enrolment_ttl_s,
            seal_journal=settings.resolved_seal_journal,
        )
        webhooks = WebhookDispatcher(
            session_factory=factory,
            clock=clock,
            owners=security.context_of_account,
            targets=alerts_cfg.webhook_targets,
            timeout_s=alerts_cfg.webhook_timeout_s,
        )
        # Committed registry changes reach this process's caches at once and the others over the bus.
        hub = EventHub(bus)
        deliver_after_commit(factory, hub.emit)
        caches = [
            devices,
            facts,
            security.areas,
            *(c for c in facts.sources.values() if hasattr(c, "depends_on")),
        ]
        hub.on(RegistryChanged, forgetting(caches))
        platform = cls(
            settings=settings,
            clock=clock,
            engine=engine,
            session_factory=factory,
            bus=bus,
            lake=lake,
            devices=devices,
            dedup=dedup,
            ingest=ingest,
            facts=facts,
            rules=rules,
            alerts=alerts,
            alert_stream=AlertStream(),
            webhooks=webhooks,
            security=security,
            pseudonyms=pseudonyms,
            hub=hub,
            investigation=Investigation(factory, security, lake, pseudonyms),
            registry=Registry(
                factory,
                security,
                now=clock.now,
                pseudonymize=pseudonyms.pseudonym,
                expand=lambda areas: security.areas.tree().expand(areas),
            ),
            bbox=bbox,
        )
        # Each capability's use cases, built on the parts above (core.capabilities.Service).
        # One at a time, in capability order: a service may use one built before it.
        for service in extensions(Service):
            platform.services[service.kind] = service.build(platform)
        return platform

    def service(self, kind: type[T]) -> T:
        """A capability's use-case object (places.Places, say), built with the platform."""
        found = self.services.get(kind)
        if found is None:
            raise LookupError(f"no installed capability provides {kind.__name__}")
        return cast(T, found)

    # --- running ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the bus, then start every worker: the platform's own and each capability's."""
        await self.bus.start()
        loop = asyncio.get_running_loop()
        self.alerts.bind_loop(loop)
        self.hub.bind(loop)
        await asyncio.to_thread(self.recover_ingest)
        await asyncio.to_thread(self.warm_dedup)
        await asyncio.to_thread(self.audit_rules_file)
        # Records left unsealed by a crash are sealed now, not one interval from now.
        await asyncio.to_thread(self.seal_audit)
        for worker in self.workers():
            await worker.start()
            self._running.append(worker)
        freeze_long_lived()
        log.info(
            "platform.started",
            bus=self.settings.bus.value,
            database=self.engine.dialect.name,
            lake=str(self.settings.resolved_lake_dir),
            mqtt=bool(self.settings.section(IngestSettings).mqtt_url),
            workers=[w.name for w in self._running],
        )

    def workers(self) -> list[Worker]:
        """What runs in the background, in start order: the core's, then each capability's."""
        s = self.settings
        found: list[Worker] = [
            Task(
                "rules",
                lambda: self.rules.run(
                    self.bus.subscribe(RECORDS, group="rules"), self.handle_findings_async
                ),
            ),
            Task("alert-stream", lambda: self.alert_stream.run(self.bus)),
            Task("webhooks", lambda: self.webhooks.run(self.bus)),
            Task("registry-notices", lambda: self.hub.listen(REGISTRY)),
            Every("compaction", s.compact_interval_s, self.compact_lake),
            Every("audit-seal", s.section(SecuritySettings).audit_seal_interval_s, self.seal_audit),
        ]
        if self.engine.dialect.name == "sqlite":
            found.append(Every("sqlite-checkpoint", 1.0, lambda: checkpoint_sqlite(self.engine)))
        for capability in installed():
            if capability.build is not None:
                found.extend(w for w in capability.build(self) if isinstance(w, Worker))
        return found

    async def stop(self) -> None:
        """Stop the workers (the last started first), seal the audit trail, release connections."""
        while self._running:
            worker = self._running.pop()
            try:
                await worker.stop()
            except Exception:
                log.exception("platform.worker_stop_failed", worker=worker.name)
        await self.hub.drain()
        try:
            await asyncio.to_thread(self.seal_audit)
        except Exception:
            log.exception("audit.seal_failed")
        await self.bus.close()
        self.engine.dispose()
        # What was frozen at start may be collected again: native resources (connections,
        # thread pools) are then finalised while their libraries are still loaded.
        gc.unfreeze()

    def handle_findings(self, findings: list[Finding]) -> None:
        """Turn findings into alerts (sync; runs in a worker thread)."""
        self.alerts.apply_findings(findings)

    async def handle_findings_async(self, findings: list[Finding]) -> None:
        """Turn findings into alerts without blocking the loop."""
        await asyncio.to_thread(self.alerts.apply_findings, findings)

    def audit_rules_file(self) -> None:
        """Record in the audit trail when the rules in force differ from the last ones recorded."""
        import hashlib

        from safecity.security import audit

        path = rules_path(self.settings)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with self.session_factory() as session:
            last = audit.search(session, AuditFilter(action="rules.loaded", limit=1))
        if last and json.loads(last[0].detail).get("sha256") == digest:
            return
        self.security.record(
            SYSTEM,
            AuditEntry("rules.loaded", str(path), detail={"sha256": digest, "file": str(path)}),
        )

    def seal_audit(self) -> None:
        """Sign the audit chain's head (a no-op when nothing was added since the last seal)."""
        key = load_audit_key(self.settings.resolved_audit_key_file, generate=self.settings.auto_generate_keys)
        self.security.audit.seal(key, at=self.security.now())

    def compact_lake(self) -> None:
        """Merge the lake's small files where enough have gathered (partitions quiet for a while)."""
        quiet_s = self.settings.compact_interval_s
        report = self.lake.compact(min_files=8, quiet_s=quiet_s)
        if report.files_in:
            log.info("lake.compacted", files_in=report.files_in, files_out=report.files_out, rows=report.rows)

    def recover_ingest(self) -> None:
        """Settle batches a crash left half-written (before anything reads ids from the lake)."""
        report = self.ingest.recover()
        if report.published or report.discarded:
            log.warning("ingest.recovered", published=len(report.published), discarded=len(report.discarded))

    def warm_dedup(self) -> None:
        """Reload the ids of the days real-time traffic falls on (older days load when a late
        event needs them), so that a restart does not store a retry twice."""
        started = time.perf_counter()
        ids = self.dedup.warm(self.clock.now())
        if ids:
            log.info("ingest.dedup_warmed", ids=ids, seconds=round(time.perf_counter() - started, 2))


__all__ = ["ALERTS", "Platform", "freeze_long_lived", "make_bus", "rules_path"]
