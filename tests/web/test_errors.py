"""The one error shape: a capability's own refusals are answered without a handler of their own."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from safecity.core.errors import DomainError
from safecity.web.errors import install_error_handlers


class FlatFull(DomainError):
    """A refusal a new capability might define: its status and code, nothing for the web layer."""

    status = 409
    code = "flat_full"


def test_a_capability_error_is_answered_in_the_one_shape() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/tenancies")
    def register() -> None:
        raise FlatFull("flat 3-201 already holds its capacity of 4 tenants", field="flat_id")

    answer = TestClient(app).post("/tenancies")

    assert answer.status_code == 409
    assert answer.json() == {
        "error": {
            "code": "flat_full",
            "message": "flat 3-201 already holds its capacity of 4 tenants",
            "field": "flat_id",
        }
    }
