"""FastAPI application assembly: mounts the routers each package exposes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from citybrain import __version__
from citybrain.cockpit import web as cockpit_web
from citybrain.cockpit.catalogue import install_catalogue
from citybrain.cockpit.citizen_page import install_citizen_page
from citybrain.cockpit.map import install_map
from citybrain.cockpit.oversight_page import install_oversight_page
from citybrain.cockpit.quality import install_quality
from citybrain.cockpit.report_page import install_report_page
from citybrain.cockpit.sharing_page import install_sharing_page
from citybrain.governance.citizen.api import ROUTERS as CITIZEN_ROUTERS
from citybrain.governance.citizen.api import register_gate_actions as citizen_actions
from citybrain.governance.disputes.api import ROUTERS as DISPUTE_ROUTERS
from citybrain.governance.disputes.api import register_gate_actions as dispute_actions
from citybrain.governance.privacy.api import ROUTERS as PRIVACY_ROUTERS
from citybrain.governance.privacy.api import register_gate_actions as privacy_actions
from citybrain.governance.reportdesk.api import ROUTERS as REPORTDESK_ROUTERS
from citybrain.governance.reportdesk.api import register_gate_actions as reportdesk_actions
from citybrain.governance.retention.api import ROUTERS as RETENTION_ROUTERS
from citybrain.governance.retention.api import register_gate_actions as retention_actions
from citybrain.governance.security.api import ROUTERS as SECURITY_ROUTERS
from citybrain.governance.security.api import register_gate_actions as security_actions
from citybrain.governance.sharing.routes import ROUTERS as SHARING_ROUTERS
from citybrain.governance.sharing.routes import register_gate_actions as sharing_actions
from citybrain.governance.sharing.visibility import grant_rule
from citybrain.governance.supervision.api import ROUTERS as SUPERVISION_ROUTERS
from citybrain.governance.supervision.api import register_gate_actions as supervision_actions
from citybrain.hub.catalogue.api import ROUTERS as CATALOGUE_ROUTERS
from citybrain.hub.catalogue.api import register_gate_actions as catalogue_actions
from citybrain.hub.catalogue.service import CatalogueDirectory
from citybrain.hub.entities.problems import ETSI_ERRORS
from citybrain.hub.entities.routes import ROUTERS as ENTITY_ROUTERS
from citybrain.hub.entities.routes import install as install_entities
from citybrain.hub.entities.visibility import set_hidden_datasets
from citybrain.hub.ingest.api import router as ingest_router
from citybrain.hub.ingest.service import GATE_ACTIONS as INGEST_ACTIONS
from citybrain.hub.quality.api import ROUTERS as QUALITY_ROUTERS
from citybrain.hub.quality.api import register_gate_actions as quality_actions
from citybrain.kernel.errors import PROBLEM_BASE, CityBrainError
from citybrain.kernel.gate import register_action
from citybrain.kernel.http import GOVERNED_PROBLEMS, STRICT_QUERY, problem_responses
from citybrain.kernel.i18n import negotiate, t
from citybrain.kernel.identity.api import router as identity_router
from citybrain.kernel.ledger_api import router as ledger_router
from citybrain.kernel.policy.api import router as policy_router
from citybrain.kernel.runtime import Runtime

PROBLEM_JSON = "application/problem+json"
SWAGGER = "/static/vendor/swagger-ui/"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def problem_response(body: dict[str, Any], request: Request) -> JSONResponse:
    """An RFC 9457 response carrying the request id; ``title`` follows Accept-Language."""
    body.setdefault("instance", str(request.url.path))
    kind = str(body.get("type", "")).removeprefix(PROBLEM_BASE).replace(ETSI_ERRORS, "etsi.")
    if kind and kind != "about:blank":
        locale = negotiate(None, None, request.headers.get("accept-language"), default="en")
        title = t(f"error.{kind}", locale)
        if title != f"error.{kind}":  # a type without a translated title keeps its own
            body["title"] = title
    body["request_id"] = getattr(request.state, "request_id", "")
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON)


def _validation_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


NGSI_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)


def create_app(runtime: Runtime) -> FastAPI:
    """The CityBrain web application over an opened runtime."""
    app = FastAPI(
        title="CityBrain 城市大脑",
        version=__version__,
        description="City data hub, governance gate and scenarios. Errors are RFC 9457 "
        "problem+json; every response carries X-Request-ID, also written to the ledger.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime

    @app.middleware("http")
    async def _request_id(request: Request, call_next: Any) -> Any:
        incoming = request.headers.get("x-request-id", "")
        request.state.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.exception_handler(CityBrainError)
    async def _cb_error(request: Request, exc: CityBrainError) -> JSONResponse:
        resp = problem_response(exc.to_problem(str(request.url.path)), request)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = "Bearer"
        if "retry_after" in exc.extra:
            resp.headers["Retry-After"] = str(exc.extra["retry_after"])
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem_response(
                {
                    "type": PROBLEM_BASE + "malformed",
                    "title": "Malformed request",
                    "status": 400,
                    "detail": "the request body is not valid JSON",
                    "field": "body",
                },
                request,
            )
        errors = [
            {"field": _validation_field(e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem_response(
            {
                "type": PROBLEM_BASE + "invalid-input",
                "title": "Invalid input",
                "status": 422,
                "detail": f"{first['field']}: {first['message']}",
                "field": first["field"],
                "errors": errors,
            },
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            {
                "type": "about:blank",
                "title": str(exc.detail),
                "status": exc.status_code,
                "detail": str(exc.detail),
            },
            request,
        )

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        return problem_response(
            {
                "type": PROBLEM_BASE + "invalid-input",
                "title": "Invalid input",
                "status": 422,
                "detail": "a value does not fit the database (out of range or malformed)",
            },
            request,
        )

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        return await _data_error(request, exc)  # type: ignore[arg-type]

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        return problem_response(
            {
                "type": PROBLEM_BASE + "database-unavailable",
                "title": "Database unavailable",
                "status": 503,
                "detail": "the database did not answer; try again",
            },
            request,
        )

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["operations"], responses={503: {"description": "database down"}})
    def ready() -> JSONResponse:
        """Readiness: the database answers."""
        try:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError:
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "ok"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the package's own copy (no CDN); tags start collapsed (with every
        tag expanded at once, this Swagger UI stops rendering after the second tag)."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="CityBrain 城市大脑 — API",
            swagger_js_url=SWAGGER + "swagger-ui-bundle.js",
            swagger_css_url=SWAGGER + "swagger-ui.css",
            swagger_favicon_url=SWAGGER + "favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None, "docExpansion": "none"},
        )

    app.include_router(identity_router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY)
    app.include_router(policy_router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY)
    app.include_router(ledger_router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY)
    catalogue_actions()
    for catalogue_router in CATALOGUE_ROUTERS:
        app.include_router(catalogue_router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY)
    for action, category in INGEST_ACTIONS.items():
        register_action(action, category)
    app.state.ingest_max_bytes = runtime.settings.ingest_max_bytes
    app.state.dataset_directory = CatalogueDirectory()  # batches follow the catalogue's schemas
    app.include_router(ingest_router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY)
    quality_actions()
    for quality_router in QUALITY_ROUTERS:
        app.include_router(quality_router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY)
    sharing_actions()
    retention_actions()
    citizen_actions()
    privacy_actions()
    supervision_actions()
    reportdesk_actions()
    security_actions()
    dispute_actions()
    governance = (
        *SHARING_ROUTERS,
        *PRIVACY_ROUTERS,
        *RETENTION_ROUTERS,
        *CITIZEN_ROUTERS,
        *SUPERVISION_ROUTERS,
        *REPORTDESK_ROUTERS,
        *SECURITY_ROUTERS,
        *DISPUTE_ROUTERS,
    )
    for governance_router in governance:
        app.include_router(
            governance_router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY
        )
    set_hidden_datasets(grant_rule(runtime.clock))  # shared entities of restricted datasets
    install_entities(app, runtime)
    for entity_router in ENTITY_ROUTERS:
        app.include_router(entity_router, responses=NGSI_PROBLEMS, dependencies=STRICT_QUERY)
    for plugin_router in runtime.plugins.routers():
        app.include_router(plugin_router, responses=GOVERNED_PROBLEMS, dependencies=STRICT_QUERY)
    cockpit_web.install(app)
    install_map(app)
    install_quality(app)
    install_catalogue(app)
    install_sharing_page(app)
    install_citizen_page(app)
    install_report_page(app)
    install_oversight_page(app)
    return app
