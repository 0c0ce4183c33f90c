"""Hazardous-chemical warnings as rule kinds of the engine (rule kinds named `hazmat_*`).

Each reads the hazmat facts (tracking/hazmat_facts.py) and the batch's `tracker_fix` records of
the shipments under way, runs the tracking kernels where geometry is involved, and explains
itself: the fixes as evidence (placed in the area that holds them, so the warning goes to that
station), the planned route and the registry facts (shipment id, UN number, quantity), with
typed references to the shipment, its sites and its tracker.
"""

from safecity.tracking.hazmat_rules.driving import LONG_STOP, OUTSIDE_WINDOW, SPEEDING
from safecity.tracking.hazmat_rules.ledger import QUANTITY_MISMATCH, SILENT_TERMINAL, STOCK_UNRECONCILED
from safecity.tracking.hazmat_rules.route import OFF_ROUTE, RESTRICTED_ZONE

KINDS = (
    OFF_ROUTE,
    LONG_STOP,
    RESTRICTED_ZONE,
    OUTSIDE_WINDOW,
    SPEEDING,
    SILENT_TERMINAL,
    QUANTITY_MISMATCH,
    STOCK_UNRECONCILED,
)

__all__ = ["KINDS"]
