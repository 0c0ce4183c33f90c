"""Alert errors: each carries a stable code and the field at fault, for a clear answer at the edge."""

from __future__ import annotations

from safecity.core.errors import DomainError


class AlertError(DomainError):
    """Base of alert errors."""

    code = "alert_error"
    status = 422  # the HTTP status the web layer answers with


class AlertNotFound(AlertError):
    """No alert has this id."""

    code = "alert_not_found"
    status = 404

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"alert {alert_id} not found", field="alert_id")
        self.alert_id = alert_id


class TransitionNotAllowed(AlertError):
    """The requested lifecycle step is not allowed from the alert's current status."""

    code = "transition_not_allowed"
    status = 409

    def __init__(self, alert_id: str, current: str, requested: str) -> None:
        super().__init__(f"alert {alert_id} is {current}: it cannot be moved to {requested}", field="status")
        self.alert_id = alert_id
        self.current = current
        self.requested = requested


class WebhookNotFound(AlertError):
    """No webhook has this id."""

    code = "webhook_not_found"
    status = 404

    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"webhook {webhook_id} not found", field="webhook_id")
        self.webhook_id = webhook_id


class InvalidAlertInput(AlertError):
    """A value given to an alert command is malformed or out of range."""

    code = "invalid_input"
