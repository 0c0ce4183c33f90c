"""FastAPI application assembly: routers, error handlers, metrics, static assets, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from safecity.platform import Platform
from safecity.security import Actor, AuditEntry, Outcome, Principal
from safecity.security import Permission as P
from safecity.web import pages
from safecity.web.api import routers
from safecity.web.auth import need, public
from safecity.web.errors import error_response, install_error_handlers
from safecity.web.hardening import Hardening
from safecity.web.openapi import document_errors

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    platform: Platform,
    *,
    manage_platform: bool = True,
    background: Callable[[], Coroutine[Any, Any, Any]] | None = None,
) -> FastAPI:
    """Build the web app around a platform; with manage_platform it starts and stops it too.

    `background` (the demo's simulator) is started after the platform and cancelled before it stops.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_platform:
            await platform.start()
        task = asyncio.create_task(background(), name="background") if background else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if manage_platform:
                await platform.stop()

    app = FastAPI(
        title="safecity",
        version="0.1.0",
        lifespan=lifespan,
        description="City public-safety platform: ingest, rules, alerts, registry.",
    )
    app.state.platform = platform

    async def audit_refused(scope: dict[str, Any], status: int, code: str) -> None:
        client = scope.get("client") or ("", 0)
        entry = AuditEntry(
            action="request",
            resource=f"{scope.get('method', '')} {scope.get('path', '')}"[:300],
            outcome=Outcome.REFUSED,
            status=status,
            detail={"code": code, "reason": f"body larger than {platform.settings.max_request_bytes} bytes"},
        )
        await asyncio.to_thread(
            platform.security.record, Actor("anonymous", "none", "", str(client[0])), entry
        )

    app.add_middleware(
        Hardening,
        max_request_bytes=platform.settings.max_request_bytes,
        hsts=platform.settings.behind_tls,
        on_refused=audit_refused,
    )
    install_error_handlers(app)
    for router in routers():
        app.include_router(router)
    for page_router in pages.routers():
        app.include_router(page_router)

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    def healthz(_: None = public("load balancers and orchestrators probe it")) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"description": "Prometheus text exposition.", "content": {"text/plain": {}}}},
    )
    def metrics(_: None = public("Prometheus scrapes it; counters only, no personal data")) -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/api/v1/city.geojson",
        tags=["registry"],
        summary="The city map as GeoJSON",
        response_class=Response,
        responses={
            200: {"description": "A GeoJSON FeatureCollection.", "content": {"application/geo+json": {}}},
            404: {"description": "No city map has been generated or imported yet."},
        },
    )
    def city_geojson(_: Principal = need(P.AREAS_READ)) -> Response:
        """Districts, communities, roads and stations of the city, for the console map."""
        path = platform.settings.city_dir / "city.geojson"
        if path.exists():  # the simulated city's own map
            return FileResponse(path, media_type="application/geo+json")
        drawn = platform.registry.city_map()  # areas imported with their boundaries
        if drawn is None:
            return error_response(
                404,
                "no_city",
                "no city map: import your areas (`safecity areas import`) or run `safecity demo`",
            )
        return JSONResponse(drawn, media_type="application/geo+json")

    @app.get("/api/v1/reconciliation", tags=["ingest"], summary="Accepted = stored + dead-lettered")
    def reconciliation(_: Principal = need(P.OPERATIONS_READ)) -> JSONResponse:
        """Reconcile the ingest ledger with the lake and the dead-letter store."""
        from safecity.ingest.reconcile import reconcile

        return JSONResponse(reconcile(platform.session_factory, platform.lake).as_dict())

    if STATIC_DIR.exists():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    document_errors(app)
    return app
