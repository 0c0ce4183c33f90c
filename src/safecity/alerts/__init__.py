"""Alerts: the warning lifecycle after a rule fires: dedup, routing, evidence, owner notices, push.

Public API; other packages import from here, not from the modules.
"""

from safecity.alerts.cap import CAP_MEDIA_TYPE, CAP_NS, to_cap
from safecity.alerts.errors import (
    AlertError,
    AlertNotFound,
    InvalidAlertInput,
    TransitionNotAllowed,
    WebhookNotFound,
)
from safecity.alerts.models import AlertStatus, DeliveryStatus, NoticeStatus, Outcome, Routing
from safecity.alerts.notice import AlertChange, ChangeType
from safecity.alerts.push import AlertStream, StreamClient
from safecity.alerts.query import (
    AlertDetail,
    AlertFilter,
    AlertView,
    EvidenceView,
    PrecisionRow,
    StepView,
)
from safecity.alerts.service import AlertService, PublishFn
from safecity.alerts.webhook import (
    DeliveryResult,
    WebhookDispatcher,
    WebhookView,
    sign,
    verify_signature,
)

__all__ = [
    "CAP_MEDIA_TYPE",
    "CAP_NS",
    "AlertChange",
    "AlertDetail",
    "AlertError",
    "AlertFilter",
    "AlertNotFound",
    "AlertService",
    "AlertStatus",
    "AlertStream",
    "AlertView",
    "ChangeType",
    "DeliveryResult",
    "DeliveryStatus",
    "EvidenceView",
    "InvalidAlertInput",
    "NoticeStatus",
    "Outcome",
    "PrecisionRow",
    "PublishFn",
    "Routing",
    "StepView",
    "StreamClient",
    "TransitionNotAllowed",
    "WebhookDispatcher",
    "WebhookNotFound",
    "WebhookView",
    "sign",
    "to_cap",
    "verify_signature",
]
