"""Simulated tracker terminals: the frames a GT06 locator and a JT/T 808 vehicle terminal send
(`gt06`, `jt808`, over the codecs' own framing) and asyncio clients that speak them over TCP."""

from safecity.sim.terminals.client import Gt06Terminal, Jt808Terminal, NoAck, Refused, pace
from safecity.sim.terminals.reading import Reading

__all__ = ["Gt06Terminal", "Jt808Terminal", "NoAck", "Reading", "Refused", "pace"]
