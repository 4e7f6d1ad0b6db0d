"""The NGSI-LD API at ``/ngsi-ld/v1`` (ETSI GS CIM 009): entities, attributes, batch
operations, types and attributes. Thin: parsing and shaping in ``http``/``context``, storage in
``service``/``queries``. Every operation passes the gate; a batch is one ledger entry.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import http, queries, service
from citybrain.hub.entities.geo import parse_geoquery
from citybrain.hub.entities.problems import BadRequestData, TooManyResults
from citybrain.hub.entities.q import parse_attrs_param, parse_q
from citybrain.hub.entities.subscriptions import announce
from citybrain.kernel.gate import register_action
from citybrain.kernel.http import Governed, GovernedDep, PublicDep, get_runtime
from citybrain.kernel.runtime import Runtime

PREFIX = "/ngsi-ld/v1"
GATE_ACTIONS: dict[str, str] = {
    "entity.read": "access",  # read or query entities of a tenant
    "entity.open": "access",  # anonymous reads of open-data entities
    "entity.write": "collect",  # create, update, upsert, delete entities
    "subscription.manage": "admin",  # create, change, delete subscriptions
}
router = APIRouter(prefix=PREFIX, tags=["ngsi-ld"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
OptionsQuery = Annotated[
    str | None, Query(max_length=200, description="keyValues, concise, sysAttrs, noOverwrite")
]
AttrsQuery = Annotated[str | None, Query(max_length=4000, description="attributes to return")]


def register_gate_actions() -> None:
    """Declare the entity API's gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


def _options(text: str | None) -> set[str]:
    opts = set(queries.split_list(text, "options"))
    unknown = opts - {"keyValues", "concise", "normalized", "sysAttrs", "noOverwrite"}
    if unknown:
        raise BadRequestData(f"unknown option {sorted(unknown)[0]!r}", field="options")
    return opts


def _digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def _internal(row: Any, sys_attrs: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": row.entity_id, "type": [row.entity_type], "attrs": row.attrs}
    if row.scope:
        doc["scope"] = row.scope
    if sys_attrs:
        doc["createdAt"] = service.iso(row.created_at)
        doc["modifiedAt"] = service.iso(row.modified_at)
    return doc


def _shape(
    rows: list[Any],
    terms: Any,
    ctx: list[Any],
    kind: str,
    opts: set[str],
    attrs: Any,
    geoproperty: str = "location",
) -> Any:
    body_ctx = ctx if kind == http.JSON_LD else None
    shaped = [
        ldctx.compact_entity(
            _internal(row, "sysAttrs" in opts),
            terms,
            options=opts,
            attrs=attrs,
            context_for_body=body_ctx,
        )
        for row in rows
    ]
    if kind != http.GEO_JSON:
        return shaped
    return {"type": "FeatureCollection", "features": [_feature(e, geoproperty) for e in shaped]}


def _feature(entity: dict[str, Any], geoproperty: str) -> dict[str, Any]:
    geometry = entity.get(geoproperty)
    if isinstance(geometry, dict) and "value" in geometry and "type" in geometry:
        geometry = geometry["value"]
    props = {k: v for k, v in entity.items() if k not in ("id", "@context")}
    return {"id": entity["id"], "type": "Feature", "geometry": geometry, "properties": props}


def _expand_attrs(attrs: str | None, terms: Any) -> set[str] | None:
    if attrs is None:
        return None
    return {terms.expand_term(name) for name in parse_attrs_param(attrs)}


@router.post("/entities", status_code=201, summary="Create an entity")
async def create_entity(request: Request, g: GovernedDep, runtime: RuntimeDep) -> Response:
    """Create one entity in the tenant's store (409 AlreadyExists if the id is taken)."""
    body = await http.read_body(runtime, request)
    tenant = http.tenant_of(runtime, request)
    return await run_in_threadpool(_create, request, g, runtime, tenant, body)


def _create(
    request: Request, g: Governed, runtime: Runtime, tenant: http.Tenant, body: Any
) -> Response:
    ctx = http.body_context(request, body)
    terms = http.resolver(runtime, request).terms(ctx)
    entity = ldctx.expand_entity(body, terms)
    service.check_geometries(entity["attrs"], terms.compact_term)
    eid = entity["id"]
    foreign = http.foreign_ids(runtime, tenant, g.caller.organisation, [eid])
    with g.act(
        "entity.write",
        tenant.resource(),
        purpose=f"create {eid}",
        context={"shared": tenant.shared, "foreign": foreign},
    ) as session:
        service.create_entity(
            session,
            tenant.name,
            entity,
            provider=g.caller.organisation or tenant.organisation,
            dataset=None,
            now=runtime.clock(),
        )
    announce(request.app.state, tenant.name, [eid], set(entity["attrs"]))
    return http.created(tenant, f"{PREFIX}/entities/{eid}")


@router.get("/entities", summary="Query entities")
def query_entities(
    request: Request,
    g: PublicDep,
    runtime: RuntimeDep,
    type: Annotated[str | None, Query(max_length=2000)] = None,
    id: Annotated[str | None, Query(max_length=20000)] = None,
    idPattern: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=4000)] = None,
    attrs: AttrsQuery = None,
    georel: Annotated[str | None, Query(max_length=100)] = None,
    geometry: Annotated[str | None, Query(max_length=40)] = None,
    coordinates: Annotated[str | None, Query(max_length=20000)] = None,
    geoproperty: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=0, le=100_000)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    count: bool = False,
    options: OptionsQuery = None,
    local: bool = False,
) -> Response:
    """Entities by type, id, idPattern, ``q`` and geo-query; JSON, JSON-LD or GeoJSON."""
    kind = http.negotiate(request)
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    opts = _options(options)
    if limit > runtime.settings.ngsi_max_limit:
        raise TooManyResults(f"limit above {runtime.settings.ngsi_max_limit}", field="limit")
    gq = parse_geoquery(georel, geometry, coordinates, geoproperty)
    action, policy_ctx, datasets = http.read_scope(g, runtime, tenant)
    query = queries.EntityQuery(
        types=tuple(terms.expand_type(t) for t in queries.split_types(type)),
        ids=queries.split_list(id, "id"),
        id_pattern=queries.check_id_pattern(idPattern),
        q=parse_q(q) if q is not None else None,
        geo=gq,
        datasets=datasets,
    )
    if query.empty and attrs is None:
        raise BadRequestData(
            "give at least one of type, id, idPattern, q, attrs or a geo-query", field="type"
        )
    wanted = _expand_attrs(attrs, terms)
    if query.empty and wanted:
        query = queries.EntityQuery(q=parse_q("|".join(sorted(wanted))), datasets=datasets)
    with g.read(
        action, tenant.resource(), purpose=f"query {request.url.query[:200]}", context=policy_ctx
    ) as session:
        rows, total = queries.run_query(
            session,
            tenant.name,
            query,
            terms.expand_term,
            limit=limit,
            offset=offset,
            count=count,
        )
        payload = _shape(rows, terms, ctx, kind, opts, wanted, gq.geoproperty if gq else "location")
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
    return http.respond(payload, kind, ldctx.link_header_for(ctx), headers=headers, tenant=tenant)


@router.get("/entities/{entityId}", summary="Retrieve an entity")
def retrieve_entity(
    request: Request,
    entityId: str,
    g: PublicDep,
    runtime: RuntimeDep,
    attrs: AttrsQuery = None,
    options: OptionsQuery = None,
) -> Response:
    """One entity, whole or only ``attrs``."""
    kind = http.negotiate(request)
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    opts = _options(options)
    action, policy_ctx, datasets = http.read_scope(g, runtime, tenant)
    with g.read(
        action, tenant.resource(), purpose=f"retrieve {entityId}", context=policy_ctx
    ) as session:
        row = service.get_entity(session, tenant.name, entityId)
        if datasets is not None and row.dataset not in datasets:
            raise service.ResourceNotFound(f"no entity {entityId!r}", field="entityId")
        shaped = _shape([row], terms, ctx, kind, opts, _expand_attrs(attrs, terms))
    payload = shaped["features"][0] if kind == http.GEO_JSON else shaped[0]
    return http.respond(payload, kind, ldctx.link_header_for(ctx), tenant=tenant)


def _write(g: Governed, runtime: Runtime, tenant: http.Tenant, ids: list[str], purpose: str) -> Any:
    foreign = http.foreign_ids(runtime, tenant, g.caller.organisation, ids)
    return g.act(
        "entity.write",
        tenant.resource(),
        purpose=purpose,
        context={"shared": tenant.shared, "foreign": foreign},
    )


@router.delete("/entities/{entityId}", status_code=204, summary="Delete an entity")
def delete_entity(request: Request, entityId: str, g: GovernedDep, runtime: RuntimeDep) -> Response:
    """Remove an entity (its history stays for the temporal API and the ledger)."""
    tenant = http.tenant_of(runtime, request)
    with _write(g, runtime, tenant, [entityId], f"delete {entityId}") as session:
        service.delete_entity(session, tenant.name, entityId)
    return http.no_content(tenant)


@router.put("/entities/{entityId}", status_code=204, summary="Replace an entity")
async def replace_entity(
    request: Request, entityId: str, g: GovernedDep, runtime: RuntimeDep
) -> Response:
    """Replace every attribute of an entity (id and creation time stay)."""
    body = await http.read_body(runtime, request)
    tenant = http.tenant_of(runtime, request)

    def work() -> Response:
        terms = http.resolver(runtime, request).terms(http.body_context(request, body))
        doc = dict(body) if isinstance(body, dict) else body
        if isinstance(doc, dict):
            doc.setdefault("id", entityId)
        entity = ldctx.expand_entity(doc, terms)
        if entity["id"] != entityId:
            raise BadRequestData("the body's id differs from the path's", field="id")
        service.check_geometries(entity["attrs"], terms.compact_term)
        with _write(g, runtime, tenant, [entityId], f"replace {entityId}") as session:
            service.replace_entity(session, tenant.name, entity, now=runtime.clock())
        announce(request.app.state, tenant.name, [entityId], set(entity["attrs"]))
        return http.no_content(tenant)

    return await run_in_threadpool(work)


def _fragment_attrs(body: Any, terms: Any, entity_id: str) -> dict[str, Any]:
    """Attributes of a PATCH/POST .../attrs body, expanded and validated."""
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object of attributes", field="body")
    doc = {k: v for k, v in body.items() if k not in ("id", "type")}
    doc["id"] = entity_id
    doc["type"] = "Fragment"
    attrs = ldctx.expand_entity(doc, terms)["attrs"]
    service.check_geometries(attrs, terms.compact_term)
    return attrs


async def _attrs_write(
    request: Request,
    entityId: str,
    g: Governed,
    runtime: Runtime,
    *,
    append: bool,
    overwrite: bool,
) -> Response:
    body = await http.read_body(runtime, request)
    tenant = http.tenant_of(runtime, request)

    def work() -> Response:
        terms = http.resolver(runtime, request).terms(http.body_context(request, body))
        attrs = _fragment_attrs(body, terms, entityId)
        verb = "append" if append else "update"
        with _write(g, runtime, tenant, [entityId], f"{verb} attrs of {entityId}") as session:
            done, skipped = service.update_attributes(
                session,
                tenant.name,
                entityId,
                attrs,
                append=append,
                overwrite=overwrite,
                now=runtime.clock(),
            )
        if done:
            announce(request.app.state, tenant.name, [entityId], set(done))
        if not skipped:
            return http.no_content(tenant)
        reason = "attribute exists (noOverwrite)" if append else "attribute does not exist"
        payload = {
            "updated": [terms.compact_term(a) for a in done],
            "notUpdated": [
                {"attributeName": terms.compact_term(a), "reason": reason} for a in skipped
            ],
        }
        return http.respond(payload, http.JSON, None, status=207, tenant=tenant)

    return await run_in_threadpool(work)


@router.post("/entities/{entityId}/attrs", status_code=204, summary="Append attributes")
async def append_attrs(
    request: Request,
    entityId: str,
    g: GovernedDep,
    runtime: RuntimeDep,
    options: OptionsQuery = None,
) -> Response:
    """Add attributes, overwriting existing ones unless ``options=noOverwrite`` (then 207)."""
    opts = _options(options)
    return await _attrs_write(
        request, entityId, g, runtime, append=True, overwrite="noOverwrite" not in opts
    )


@router.patch("/entities/{entityId}/attrs", status_code=204, summary="Update attributes")
async def update_attrs(
    request: Request, entityId: str, g: GovernedDep, runtime: RuntimeDep
) -> Response:
    """Replace existing attributes; attributes the entity lacks are reported (207)."""
    return await _attrs_write(request, entityId, g, runtime, append=False, overwrite=True)


@router.patch(
    "/entities/{entityId}/attrs/{attrId}", status_code=204, summary="Partial attribute update"
)
async def patch_attr(
    request: Request, entityId: str, attrId: str, g: GovernedDep, runtime: RuntimeDep
) -> Response:
    """Change members of one attribute (value, observedAt, unitCode, sub-attributes)."""
    body = await http.read_body(runtime, request)
    tenant = http.tenant_of(runtime, request)

    def work() -> Response:
        terms = http.resolver(runtime, request).terms(http.body_context(request, body))
        name = terms.expand_term(attrId)
        if not isinstance(body, dict):
            raise BadRequestData("the body must be a JSON object", field="body")
        probe = {k: v for k, v in body.items() if k != "@context"}
        probe.setdefault("type", "Property")
        fragment = _fragment_attrs({attrId: probe}, terms, entityId)[name]
        if "type" not in body:
            fragment.pop("type", None)
        with _write(g, runtime, tenant, [entityId], f"patch {attrId} of {entityId}") as session:
            service.patch_attribute(
                session, tenant.name, entityId, name, fragment, now=runtime.clock()
            )
        announce(request.app.state, tenant.name, [entityId], {name})
        return http.no_content(tenant)

    return await run_in_threadpool(work)


@router.delete(
    "/entities/{entityId}/attrs/{attrId}", status_code=204, summary="Delete an attribute"
)
def delete_attr(
    request: Request, entityId: str, attrId: str, g: GovernedDep, runtime: RuntimeDep
) -> Response:
    """Remove one attribute of an entity."""
    tenant = http.tenant_of(runtime, request)
    terms = http.resolver(runtime, request).terms(http.query_context(request))
    name = terms.expand_term(attrId)
    with _write(g, runtime, tenant, [entityId], f"delete {attrId} of {entityId}") as session:
        service.delete_attribute(session, tenant.name, entityId, name, runtime.clock())
    announce(request.app.state, tenant.name, [entityId], {name})
    return http.no_content(tenant)
