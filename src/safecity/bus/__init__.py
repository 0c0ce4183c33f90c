"""Event backbones behind one small interface: in-process (default) and NATS JetStream."""

from safecity.bus.base import ALERTS, RECORDS, REGISTRY, Bus, Delivery, Payload, Subscription
from safecity.bus.memory import MemoryBus

__all__ = ["ALERTS", "RECORDS", "REGISTRY", "Bus", "Delivery", "MemoryBus", "Payload", "Subscription"]
