"""The ingest capability: devices' events in, and how long refused events and the ledger are kept."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, not_, select
from sqlalchemy.orm import Session

from safecity.core.capabilities import Capability
from safecity.core.worker import Worker
from safecity.ingest.adapters.tcp.batch import ReportBatcher
from safecity.ingest.adapters.tcp.gt06 import Gt06Protocol
from safecity.ingest.adapters.tcp.jt808 import Jt808Protocol
from safecity.ingest.adapters.tcp.protocol import DeviceProtocol
from safecity.ingest.adapters.tcp.server import TrackerServer
from safecity.ingest.models import BatchStatus, DeadLetter, IngestBatch
from safecity.ingest.settings import SECTION, IngestSettings
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry

INGEST_BATCHES = "ingest_batches"  # also the purge target whose ledger totals are carried forward


def old_batches(cut: Cutoff) -> ColumnElement[bool]:
    """Ledger entries due; one left `writing` is a reconciliation problem to look into, never aged out."""
    return (IngestBatch.status != BatchStatus.WRITING) & (IngestBatch.received_at < cut(INGEST_BATCHES))


def _old_dead_letters(cut: Cutoff) -> ColumnElement[bool]:
    return DeadLetter.received_at < cut("dead_letters")


def _dead_letters(cut: Cutoff) -> Sequence[Purgeable]:
    return [Purgeable("dead_letters", DeadLetter, _old_dead_letters(cut))]


def _ledger_totals(where: ColumnElement[bool]) -> Callable[[Session], Mapping[str, int]]:
    """The summed counts of the ledger entries about to be deleted, for the purge ledger to keep."""
    columns = ("received", "duplicates", "accepted", "stored", "dead_lettered", "refused")

    def totals(session: Session) -> Mapping[str, int]:
        sums = [func.coalesce(func.sum(getattr(IngestBatch, c)), 0) for c in columns]
        row = session.execute(select(*sums).where(where)).one()
        return {c: int(v) for c, v in zip(columns, row, strict=True)}

    return totals


def _ingest_batches(cut: Cutoff) -> Sequence[Purgeable]:
    # A batch's dead letters go with it; those old enough on their own are the other entry's.
    of_old_batches = DeadLetter.batch_id.in_(select(IngestBatch.id).where(old_batches(cut)))
    return [
        Purgeable("dead_letters", DeadLetter, of_old_batches & not_(_old_dead_letters(cut))),
        Purgeable(INGEST_BATCHES, IngestBatch, old_batches(cut), carried=_ledger_totals(old_batches(cut))),
    ]


DEAD_LETTERS = RetentionEntry(
    name="dead_letters",
    description="Refused events with their raw text, counted from receipt.",
    tables=("dead_letters",),
    due=_dead_letters,
)
LEDGER = RetentionEntry(
    name=INGEST_BATCHES,
    description="Ingest ledger entries (and their dead letters), counted from receipt; their totals "
    "are carried forward so that reconciliation still adds up.",
    tables=(INGEST_BATCHES, "dead_letters"),
    due=_ingest_batches,
    at_least=(("dead_letters", "a ledger entry's dead letters are deleted with it"),),
)


def adapters(platform: Any) -> list[Worker]:
    """The adapters that run in the background (HTTP is served by the web app, replay by the CLI)."""
    s = platform.settings.section(IngestSettings)
    found: list[Worker] = []
    if s.mqtt_url:
        from safecity.ingest.adapters.mqtt import MqttAdapter  # paho only when MQTT is on

        found.append(
            MqttAdapter(
                platform.ingest,
                url=s.mqtt_url,
                prefix=s.mqtt_topic_prefix,
                client_id=s.mqtt_client_id,
                linger_s=s.mqtt_linger_ms / 1000,
                links=platform.device_links,
            )
        )
    found.extend(tracker_servers(platform))
    return found


def tracker_servers(platform: Any) -> list[Worker]:
    """A TCP server per enabled tracker protocol (GT06, JT/T 808), feeding the ingest pipeline."""
    s = platform.settings.section(IngestSettings)
    enabled: list[tuple[DeviceProtocol, int]] = []
    if s.gt06_enabled:
        enabled.append((Gt06Protocol(), s.gt06_port))
    if s.jt808_enabled:
        enabled.append((Jt808Protocol(), s.jt808_port))
    # One batcher for every protocol: a batch's fixed cost is paid once for all of them.
    batcher = (
        ReportBatcher(
            platform.ingest,
            protocol="tracker",
            max_events=s.tracker_batch_max_events,
            linger_s=s.tracker_batch_linger_ms / 1000,
        )
        if s.tracker_batch_max_events > 0
        else None
    )
    return [
        TrackerServer(
            codec,
            platform.ingest,
            platform.session_factory,
            now=platform.clock.now,
            host=s.tracker_host,
            port=port,
            idle_timeout_s=s.tracker_idle_timeout_s,
            max_buffer_bytes=s.tracker_max_buffer_bytes,
            batch_max_events=s.tracker_batch_max_events,
            batch_linger_ms=s.tracker_batch_linger_ms,
            batcher=batcher,
        )
        for codec, port in enabled
    ]


CAPABILITY = Capability(
    name="ingest",
    summary="Device events in over HTTP, MQTT, replay and TCP tracker servers (GT06, JT/T 808): "
    "validated, deduplicated, stored or dead-lettered.",
    requires=("registry",),
    extensions=(DEAD_LETTERS, LEDGER, SECTION),
    build=adapters,
)
