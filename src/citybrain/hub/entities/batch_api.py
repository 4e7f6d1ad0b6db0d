"""Batch entity operations (``/entityOperations/create|upsert|update|delete``) and the
``/types`` and ``/attributes`` discovery endpoints of the NGSI-LD API.

Bad data anywhere in a batch (malformed entity, wrong attribute type, invalid geometry) is a
400 naming the entity's index and field, and nothing is stored. State conflicts per entity
(an id that exists on create, or is missing on update/delete) follow the spec: the rest is
written and a 207 lists each error. One ledger entry per batch.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import http, service
from citybrain.hub.entities.api import PREFIX, RuntimeDep, _digest, _write
from citybrain.hub.entities.problems import BadRequestData, NgsiError, ResourceNotFound
from citybrain.hub.entities.subscriptions import announce
from citybrain.kernel.http import GovernedDep, PublicDep
from citybrain.kernel.runtime import Runtime

MAX_BATCH = 10_000
router = APIRouter(prefix=PREFIX, tags=["ngsi-ld"])


def _entities(request: Request, runtime: Runtime, body: Any) -> list[dict[str, Any]]:
    """Expand each entity of a batch body with its own (or the request's) @context."""
    if not isinstance(body, list):
        raise BadRequestData("the body must be a JSON array of entities", field="body")
    if not body:
        raise BadRequestData("the batch is empty", field="body")
    if len(body) > MAX_BATCH:
        raise BadRequestData(f"more than {MAX_BATCH} entities in one batch", field="body")
    resolve = http.resolver(runtime, request)
    kind = http.media_type(request.headers.get("content-type"))
    shared_terms = None
    if kind == http.JSON:
        shared_terms = resolve.terms(http.query_context(request))
    out = []
    for index, doc in enumerate(body):
        try:
            if not isinstance(doc, dict):
                raise BadRequestData("not a JSON object", field="body")
            terms = shared_terms or resolve.terms(http.body_context(request, doc))
            entity = ldctx.expand_entity(doc, terms)
            service.single_type(entity)
            service.check_geometries(entity["attrs"], terms.compact_term)
        except NgsiError as exc:
            where = f"[{index}]" + (f".{exc.field}" if exc.field else "")
            raise type(exc)(f"entity {index}: {exc.detail}", field=where) from exc
        out.append(entity)
    return out


def _report(
    outcome: service.BatchOutcome, ok_status: int, created_body: bool, tenant: http.Tenant
) -> Response:
    if outcome.errors:
        payload = {"success": outcome.succeeded, "errors": outcome.errors}
        return http.respond(payload, http.JSON, None, status=207, tenant=tenant)
    if created_body and outcome.created:
        return http.respond(outcome.created, http.JSON, None, status=201, tenant=tenant)
    return (
        http.no_content(tenant)
        if ok_status == 204
        else http.respond(outcome.created, http.JSON, None, status=ok_status, tenant=tenant)
    )


async def _batch(request: Request, g: Any, runtime: Runtime, mode: str) -> Response:
    body = await http.read_body(runtime, request)
    tenant = http.tenant_of(runtime, request)

    def work() -> Response:
        entities = _entities(request, runtime, body)
        ids = [e["id"] for e in entities]
        purpose = f"batch {mode} of {len(ids)} entities ids#{_digest(ids)}"
        with _write(g, runtime, tenant, ids, purpose) as session:
            outcome = service.batch_write(
                session,
                tenant.name,
                entities,
                mode=mode,
                provider=g.caller.organisation or tenant.organisation,
                now=runtime.clock(),
            )
        ok = set(outcome.succeeded)
        written = {a for e in entities if e["id"] in ok for a in e["attrs"]}
        announce(request.app.state, tenant.name, outcome.succeeded, written)
        if mode == "create":
            return _report(outcome, 201, True, tenant)
        if mode in ("upsert", "upsert-update"):
            return _report(outcome, 204, True, tenant)
        return _report(outcome, 204, False, tenant)

    return await run_in_threadpool(work)


@router.post("/entityOperations/create", status_code=201, summary="Batch create")
async def batch_create(request: Request, g: GovernedDep, runtime: RuntimeDep) -> Response:
    """Create many entities; ids that exist already are reported (207)."""
    return await _batch(request, g, runtime, "create")


@router.post("/entityOperations/upsert", status_code=201, summary="Batch upsert")
async def batch_upsert(
    request: Request, g: GovernedDep, runtime: RuntimeDep, options: str | None = None
) -> Response:
    """Create or replace many entities (``options=update``: merge attributes instead)."""
    if options not in (None, "update", "replace"):
        raise BadRequestData("options must be update or replace", field="options")
    return await _batch(request, g, runtime, "upsert-update" if options == "update" else "upsert")


@router.post("/entityOperations/update", status_code=204, summary="Batch update")
async def batch_update(request: Request, g: GovernedDep, runtime: RuntimeDep) -> Response:
    """Merge attributes into many existing entities; missing ids are reported (207)."""
    return await _batch(request, g, runtime, "update")


@router.post("/entityOperations/delete", status_code=204, summary="Batch delete")
async def batch_delete(request: Request, g: GovernedDep, runtime: RuntimeDep) -> Response:
    """Delete many entities by id; missing ids are reported (207)."""
    body = await http.read_body(runtime, request)
    tenant = http.tenant_of(runtime, request)
    if not isinstance(body, list) or not body or not all(isinstance(i, str) and i for i in body):
        raise BadRequestData("the body must be a non-empty JSON array of entity ids", field="body")
    if len(body) > MAX_BATCH:
        raise BadRequestData(f"more than {MAX_BATCH} ids in one batch", field="body")

    def work() -> Response:
        purpose = f"batch delete of {len(body)} entities ids#{_digest(body)}"
        with _write(g, runtime, tenant, list(body), purpose) as session:
            outcome = service.batch_delete(session, tenant.name, body)
        return _report(outcome, 204, False, tenant)

    return await run_in_threadpool(work)


@router.get("/types", summary="Entity types")
def list_types(
    request: Request, g: PublicDep, runtime: RuntimeDep, details: bool = False
) -> Response:
    """The entity types of the tenant (``details=true``: with their attributes and counts)."""
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    action, policy_ctx, datasets = http.read_scope(g, runtime, tenant)
    with g.read(action, tenant.resource(), purpose="list types", context=policy_ctx) as session:
        counts = service.entity_types(session, tenant.name, datasets)
        attrs = service.attribute_names(session, tenant.name, datasets) if details else {}
    if details:
        payload: Any = [
            {
                "id": etype,
                "type": "EntityType",
                "typeName": terms.compact_term(etype),
                "attributeNames": sorted(
                    terms.compact_term(a) for a, types in attrs.items() if etype in types
                ),
            }
            for etype, _ in counts
        ]
    else:
        payload = {
            "id": "urn:ngsi-ld:EntityTypeList:" + (tenant.name or "city"),
            "type": "EntityTypeList",
            "typeList": [terms.compact_term(etype) for etype, _ in counts],
        }
    return http.respond(payload, http.JSON, ldctx.link_header_for(ctx), tenant=tenant)


@router.get("/types/{typeName}", summary="One entity type")
def get_type(request: Request, typeName: str, g: PublicDep, runtime: RuntimeDep) -> Response:
    """How many entities of a type there are and which attributes they carry."""
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    etype = terms.expand_type(typeName)
    action, policy_ctx, datasets = http.read_scope(g, runtime, tenant)
    with g.read(action, tenant.resource(), purpose=f"type {typeName}", context=policy_ctx) as s:
        counts = dict(service.entity_types(s, tenant.name, datasets))
        attrs = service.attribute_names(s, tenant.name, datasets)
    if etype not in counts:
        raise ResourceNotFound(f"no entity of type {typeName!r}", field="type")
    payload = {
        "id": etype,
        "type": "EntityTypeInfo",
        "typeName": terms.compact_term(etype),
        "entityCount": counts[etype],
        "attributeDetails": [
            {"id": a, "type": "Attribute", "attributeName": terms.compact_term(a)}
            for a, types in sorted(attrs.items())
            if etype in types
        ],
    }
    return http.respond(payload, http.JSON, ldctx.link_header_for(ctx), tenant=tenant)


@router.get("/attributes", summary="Attributes in use")
def list_attributes(request: Request, g: PublicDep, runtime: RuntimeDep) -> Response:
    """Every attribute name carried by some entity of the tenant."""
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    action, policy_ctx, datasets = http.read_scope(g, runtime, tenant)
    with g.read(action, tenant.resource(), purpose="list attributes", context=policy_ctx) as s:
        attrs = service.attribute_names(s, tenant.name, datasets)
    payload = {
        "id": "urn:ngsi-ld:AttributeList:" + (tenant.name or "city"),
        "type": "AttributeList",
        "attributeList": sorted(terms.compact_term(a) for a in attrs),
    }
    return http.respond(payload, http.JSON, ldctx.link_header_for(ctx), tenant=tenant)


@router.get("/attributes/{attrName}", summary="One attribute")
def get_attribute(request: Request, attrName: str, g: PublicDep, runtime: RuntimeDep) -> Response:
    """Which entity types carry an attribute."""
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    name = terms.expand_term(attrName)
    action, policy_ctx, datasets = http.read_scope(g, runtime, tenant)
    with g.read(
        action, tenant.resource(), purpose=f"attribute {attrName}", context=policy_ctx
    ) as s:
        attrs = service.attribute_names(s, tenant.name, datasets)
    if name not in attrs:
        raise ResourceNotFound(f"no attribute {attrName!r}", field="attrId")
    payload = {
        "id": name,
        "type": "Attribute",
        "attributeName": terms.compact_term(name),
        "typeNames": sorted(terms.compact_term(t) for t in attrs[name]),
    }
    return http.respond(payload, http.JSON, ldctx.link_header_for(ctx), tenant=tenant)
