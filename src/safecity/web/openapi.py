"""Every answer a route can give is in the OpenAPI document, errors included, in the one error shape.

The error answers follow from what a route declares, so they are derived here rather than
written out route by route: a signed-in route can answer 401, 403 and 429 (refusals are rate
limited); a route with a path parameter 404, and one naming a case in its query too (the case may
not exist); one with parameters or a body 422; one with a body
413; a write 409; a device route 401; a public one 429 (and 401 if it takes credentials). A route
adds its own (503, say) with FastAPI's `responses=`, and those are kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from safecity.web.auth import declared_requirement

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ErrorDetail(BaseModel):
    """What went wrong and where."""

    code: str = Field(
        description="Stable code to branch on: `forbidden`, `outside_area`, `invalid_request`, ..."
    )
    message: str = Field(description="What was wrong, for people.")
    field: str | None = Field(
        None, description="The input at fault, named as the client wrote it, if one is."
    )
    details: list[dict[str, Any]] | None = Field(
        None, description="Every invalid field with its message (422 answers)."
    )


class ErrorOut(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail = Field(description="The refusal: a code, a message and the field at fault.")


DESCRIPTIONS = {
    401: "Not signed in, or the credentials or token are not (or no longer) valid.",
    403: "The caller's role may not do this, or it concerns an area outside the caller's reach.",
    404: "What the path (or the query's case) names does not exist.",
    409: "The change clashes with what is there now (already registered, closed, not pending).",
    413: "The request body is larger than the limit.",
    422: "A parameter or the body is malformed; `field` names it.",
    429: "Too many requests (or refusals) from this address: retry after `Retry-After` seconds.",
}


def error_responses(route: APIRoute, methods: frozenset[str]) -> dict[int, str]:
    """The error answers a route can give, each with why, from what it declares."""
    codes: set[int] = set()
    requirement = declared_requirement(route)
    if requirement is not None and requirement.permission is not None:
        codes |= {401, 403, 429}
    elif requirement is not None and requirement.device:
        codes.add(401)
    elif requirement is not None:
        codes.add(429)
        if route.body_field is not None:  # a public route that takes credentials (sign-in, refresh)
            codes.add(401)
    if route.dependant.path_params or any(p.name == "case_id" for p in route.dependant.query_params):
        codes.add(404)
    if route.dependant.query_params or route.body_field is not None or route.dependant.path_params:
        codes.add(422)
    if route.body_field is not None:
        codes.add(413)
    if methods & WRITES and requirement is not None and requirement.permission is not None:
        codes.add(409)
    return {code: DESCRIPTIONS[code] for code in sorted(codes)}


def document_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI document carry each route's error answers (its own declarations win)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("ErrorDetail", ErrorDetail.model_json_schema())
        components.setdefault("ErrorOut", _ref_detail(ErrorOut.model_json_schema()))
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            path = schema["paths"].get(str(context.path), {})
            methods = frozenset(context.methods or ())
            for method in methods:
                operation = path.get(method.lower())
                if operation is None:
                    continue
                answers = operation.setdefault("responses", {})
                for code, description in error_responses(route, methods).items():
                    answers.setdefault(str(code), {"description": description, "content": body})
                if "HTTPValidationError" in str(answers.get("422", "")):
                    # FastAPI's default; the app answers its own shape (web/errors.py).
                    answers["422"] = {"description": DESCRIPTIONS[422], "content": body}
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _ref_detail(schema: dict[str, Any]) -> dict[str, Any]:
    # The model's own schema nests ErrorDetail under $defs; the document keeps it as a component.
    schema.pop("$defs", None)
    schema["properties"]["error"] = {
        "$ref": "#/components/schemas/ErrorDetail",
        "description": schema["properties"]["error"].get("description", ""),
    }
    return schema


__all__ = ["ErrorDetail", "ErrorOut", "document_errors", "error_responses"]
