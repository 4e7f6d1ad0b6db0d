"""HTTP plumbing of the NGSI-LD API: tenants, bodies, @context and content negotiation.

Kept apart from the routes so that ``api.py`` stays a thin list of operations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities.models import NgsiEntity
from citybrain.hub.entities.problems import (
    InvalidRequest,
    NgsiError,
    NonexistentTenant,
)
from citybrain.hub.entities.visibility import DatasetScope, hidden_datasets
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import Governed, is_anonymous
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.runtime import Runtime

TENANT_HEADER = "NGSILD-Tenant"
JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"


class NotAcceptable(NgsiError):
    """The client accepts none of JSON, JSON-LD or GeoJSON: 406."""

    status, problem, title, etsi = 406, "ngsi-not-acceptable", "Not acceptable", "InvalidRequest"


class PayloadTooLarge(NgsiError):
    """The body is larger than ``ngsi_max_bytes``: 413."""

    status, problem, title, etsi = (
        413,
        "ngsi-payload-too-large",
        "Payload too large",
        "BadRequestData",
    )


@dataclass
class Tenant:
    """The tenant a request addresses: ``""`` (the city's shared store) or an organisation."""

    name: str
    organisation: str  # the organisation code the gate sees as the resource's owner

    @property
    def shared(self) -> bool:
        """True for the city's shared store."""
        return self.name == ""

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """``extra`` plus the ``NGSILD-Tenant`` echo (none for the shared store)."""
        out = dict(extra or {})
        if not self.shared:
            out[TENANT_HEADER] = self.name
        return out

    def resource(self, kind: str = "EntityStore") -> Resource:
        """The gate resource standing for this tenant's store."""
        return Resource(kind, self.name or "city", self.organisation)


def resolver(runtime: Runtime, request: Request) -> ldctx.ContextResolver:
    """The app's @context resolver (one per app, built from the settings on first use)."""
    state = request.app.state
    found = getattr(state, "ngsi_contexts", None)
    if found is None:
        s = runtime.settings
        found = ldctx.ContextResolver(
            hosts=s.ngsi_context_hosts,
            max_bytes=s.ngsi_context_max_bytes,
            timeout_s=s.ngsi_context_timeout_s,
            cache_s=s.ngsi_context_cache_s,
        )
        state.ngsi_contexts = found
    return found


def tenant_of(runtime: Runtime, request: Request) -> Tenant:
    """The ``NGSILD-Tenant`` header as an organisation (by credit code); 404 when unknown."""
    name = request.headers.get(TENANT_HEADER, "").strip()
    if not name:
        return Tenant("", runtime.settings.city_code)
    with runtime.reader() as session:
        found = session.scalar(select(Organisation.code).where(Organisation.code == name))
    if found is None:
        raise NonexistentTenant(f"no organisation with credit code {name!r}", field=TENANT_HEADER)
    return Tenant(name, found)


async def read_body(runtime: Runtime, request: Request, *, allow_merge_patch: bool = False) -> Any:
    """The request body as JSON, within the size limit, of an accepted media type."""
    kind = media_type(request.headers.get("content-type"))
    accepted = {JSON, JSON_LD} | ({MERGE_PATCH} if allow_merge_patch else set())
    if kind not in accepted:
        raise ldctx.UnsupportedMediaType(
            f"Content-Type must be one of {', '.join(sorted(accepted))}", field="Content-Type"
        )
    limit = runtime.settings.ngsi_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes", field="body")
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes", field="body")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"body is not UTF-8: {exc}", field="body") from exc
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="body"
        ) from exc


def media_type(value: str | None) -> str:
    """The bare media type of a Content-Type/Accept item, lower-cased."""
    return (value or "").split(";")[0].strip().lower()


def negotiate(request: Request, *, geo: bool = True) -> str:
    """The response media type from Accept: JSON (default), JSON-LD or GeoJSON; else 406."""
    header = request.headers.get("accept")
    if not header:
        return JSON
    offered = [JSON, JSON_LD] + ([GEO_JSON] if geo else [])
    best, best_q = None, -1.0
    for item in header.split(","):
        kind = media_type(item)
        q = 1.0
        for param in item.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for candidate in offered:
            if kind in (candidate, "*/*", "application/*") and q > best_q and q > 0:
                best, best_q = (JSON if kind in ("*/*", "application/*") else candidate), q
    if best is None:
        raise NotAcceptable(f"cannot answer with any of {header!r}", field="Accept")
    return best


def body_context(request: Request, body: Any) -> list[Any]:
    """The request's @context (Link header or body), core context last."""
    return ldctx.request_context(
        request.headers.get("content-type"), request.headers.get("link"), body
    )


def query_context(request: Request) -> list[Any]:
    """A GET request's @context: the Link header only."""
    return ldctx.request_context(None, request.headers.get("link"), None)


def open_datasets(runtime: Runtime) -> tuple[str, ...]:
    """Slugs of the catalogue's open-data datasets."""
    with runtime.reader() as session:
        return tuple(session.scalars(select(Dataset.slug).where(Dataset.open_data.is_(True))))


def read_scope(
    g: Governed, runtime: Runtime, tenant: Tenant
) -> tuple[str, dict, tuple | DatasetScope | None]:
    """(action, context, dataset restriction) for a read: anonymous callers see open data
    of the shared store only; signed-in callers what the policies allow on the tenant, minus,
    in the shared store, the entities of restricted datasets they hold no grant for."""
    if is_anonymous(g):
        return "entity.open", {"open_data": True, "shared": tenant.shared}, open_datasets(runtime)
    if not tenant.shared:
        return "entity.read", {"shared": False}, None
    with runtime.reader() as session:
        hidden = hidden_datasets(session, g.caller)
    return "entity.read", {"shared": True}, DatasetScope(hidden=hidden) if hidden else None


def foreign_ids(runtime: Runtime, tenant: Tenant, owner: str, ids: list[str]) -> bool:
    """True when any of ``ids`` exists in the shared store under another provider."""
    if not tenant.shared or not ids:
        return False
    with runtime.reader() as session:
        for start in range(0, len(ids), 900):
            hit = session.scalar(
                select(NgsiEntity.id)
                .where(
                    NgsiEntity.tenant == "",
                    NgsiEntity.entity_id.in_(ids[start : start + 900]),
                    NgsiEntity.provider != owner,
                )
                .limit(1)
            )
            if hit is not None:
                return True
    return False


def respond(
    payload: Any,
    kind: str,
    link: str | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    tenant: Tenant | None = None,
) -> Response:
    """A JSON response of ``kind`` with the Link header (plain JSON) and the tenant echoed."""
    out = tenant.headers(headers) if tenant is not None else dict(headers or {})
    if kind == JSON and link:
        out["Link"] = link
    return JSONResponse(payload, status_code=status, media_type=kind, headers=out)


def no_content(tenant: Tenant | None = None, headers: dict[str, str] | None = None) -> Response:
    """204 with the tenant echoed."""
    out = tenant.headers(headers) if tenant is not None else dict(headers or {})
    return Response(status_code=204, headers=out)


def created(tenant: Tenant, location: str) -> Response:
    """201 with ``Location`` and the tenant echoed."""
    return Response(status_code=201, headers=tenant.headers({"Location": location}))
