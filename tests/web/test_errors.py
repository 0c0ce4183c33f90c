"""The one error shape: a capability's own refusals are answered without a handler of their own."""

from __future__ import annotations

from pathlib import Path

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


def test_every_operation_documents_the_errors_it_can_answer(tmp_path: Path) -> None:
    """Issue 9 item 17: 401, 403, 404, 409, 422 and 429 were undocumented on most operations."""
    from safecity.platform import Platform
    from safecity.settings import Settings
    from safecity.web.app import create_app

    paths = create_app(Platform.build(Settings(data_dir=tmp_path))).openapi()["paths"]
    missing = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            signed_in = any("Bearer" in str(s) for s in operation.get("security", [])) or path.startswith(
                ("/api/v1/alerts", "/api/v1/cases", "/api/v1/bikes", "/api/v1/devices", "/api/v1/users")
            )
            wanted = {"401", "403", "429"} if signed_in else set()
            if "{" in path:
                wanted |= {"404", "422"}
            if method in ("post", "delete") and signed_in:
                wanted.add("409")
            if not wanted <= documented:
                missing.append(f"{method.upper()} {path}: {sorted(wanted - documented)}")
            error = operation["responses"].get("422", {}).get("content", {}).get("application/json", {})
            if "422" in documented and path != "/api/v1/ingest":
                assert error.get("schema") == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
    assert missing == []


def test_a_case_named_in_the_query_that_does_not_exist_is_a_documented_404(api: TestClient) -> None:
    """Found by the fuzz run: GET /api/v1/people answered 404 case_not_found, which it did not document."""
    answer = api.get(
        "/api/v1/people",
        params={"id_number": "11010519491231002X", "case_id": "NO-SUCH-CASE", "purpose": "x y z"},
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "case_not_found")
    paths = api.app.openapi()["paths"]  # type: ignore[attr-defined]
    takes_a_case = [
        (path, method)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if any(p["name"] == "case_id" and p["in"] == "query" for p in operation.get("parameters", []))
    ]
    assert ("/api/v1/people", "get") in takes_a_case
    assert [pm for pm in takes_a_case if "404" not in paths[pm[0]][pm[1]]["responses"]] == []
