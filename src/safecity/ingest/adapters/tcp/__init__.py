"""TCP device servers for binary tracker protocols (GT06, JT/T 808): one codec module per protocol.

`protocol.py` is the contract a codec implements (frame splitting, decoding, the replies the
terminal expects); the server that drives codecs over asyncio connections and hands their fixes
and alarms to the ingest pipeline sits beside it.
"""
