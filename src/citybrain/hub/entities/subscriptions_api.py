"""NGSI-LD subscriptions at ``/ngsi-ld/v1/subscriptions`` (ETSI GS CIM 009, clause 5.8).

Thin: validation, storage and representation live in ``subscriptions``; delivery in
``notifier``. Managing a subscription is the gate action ``subscription.manage`` on
``Subscription/<id>`` of the subscriber's organisation; creating one also needs ``entity.read``
on the tenant, since the subscription will carry the tenant's data to its endpoint.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import http
from citybrain.hub.entities import subscriptions as subs
from citybrain.hub.entities.api import PREFIX, RuntimeDep
from citybrain.hub.entities.api import register_gate_actions as entity_actions
from citybrain.hub.entities.models import NgsiSubscription
from citybrain.hub.entities.problems import AlreadyExists, BadRequestData, ResourceNotFound
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import Governed, GovernedDep
from citybrain.kernel.runtime import Runtime

MANAGE = "subscription.manage"
router = APIRouter(prefix=PREFIX, tags=["ngsi-ld"])


def register_gate_actions() -> None:
    """Declare the entity actions and ``entity.notify`` (a notification sent) (idempotent)."""
    entity_actions()
    register_action("entity.notify", "access")


def _resource(sub_id: str, organisation: str | None) -> Resource:
    return Resource("Subscription", sub_id, organisation)


def _invalidate(request: Request, tenant: http.Tenant) -> None:
    notifier = getattr(request.app.state, "ngsi_notifier", None)
    if notifier is not None:
        notifier.invalidate(tenant.name)


def _organisation_of(runtime: Runtime, tenant: http.Tenant, sub_id: str) -> str:
    """The subscriber organisation of a subscription (the gate decides on it); 404 if none."""
    with runtime.reader() as session:
        org = session.scalar(
            select(NgsiSubscription.organisation).where(
                NgsiSubscription.tenant == tenant.name, NgsiSubscription.sub_id == sub_id
            )
        )
    if org is None:
        raise ResourceNotFound(f"no subscription {sub_id!r}", field="subscriptionId")
    return org


def _shown(row: Any, terms: Any, ctx: list[Any], kind: str, runtime: Runtime) -> dict[str, Any]:
    out = subs.compact_subscription(subs.row_doc(row), terms, now=runtime.clock())
    endpoint = out["notification"]["endpoint"]
    parts = urlsplit(endpoint["uri"])
    if parts.password:  # credentials of an MQTT broker are not shown back
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        endpoint["uri"] = urlunsplit(parts._replace(netloc=netloc))
    if kind == http.JSON_LD:
        out["@context"] = ctx[0] if len(ctx) == 1 else ctx
    return out


@router.post("/subscriptions", status_code=201, summary="Create a subscription")
async def create_subscription(request: Request, g: GovernedDep, runtime: RuntimeDep) -> Response:
    """Subscribe an endpoint (HTTP or MQTT) to changes of the tenant's entities (409 if the
    id is taken). Needs ``entity.read`` on the tenant and ``subscription.manage``."""
    body = await http.read_body(runtime, request)
    tenant = http.tenant_of(runtime, request)
    return await run_in_threadpool(_create, request, g, runtime, tenant, body)


def _create(
    request: Request, g: Governed, runtime: Runtime, tenant: http.Tenant, body: Any
) -> Response:
    ctx = http.body_context(request, body)
    terms = http.resolver(runtime, request).terms(ctx)
    doc = subs.parse_subscription(
        body,
        terms,
        now=runtime.clock(),
        context=ctx,
        allowed_hosts=runtime.settings.ngsi_notify_hosts,
    )
    sid = doc["id"]
    org = g.caller.organisation or tenant.organisation
    with g.read(
        "entity.read",
        tenant.resource(),
        purpose=f"subscribe {sid}"[:400],
        context={"shared": tenant.shared},
    ) as session:
        taken = session.scalar(
            select(NgsiSubscription.id).where(
                NgsiSubscription.tenant == tenant.name, NgsiSubscription.sub_id == sid
            )
        )
        if taken is not None:
            raise AlreadyExists(f"subscription {sid!r} exists already", field="id")
    with g.act(MANAGE, _resource(sid, org), purpose=f"create on {tenant.name or 'city'}") as s:
        subs.insert_row(
            s, tenant.name, doc, owner=g.caller.name, organisation=org, now=runtime.clock()
        )
    _invalidate(request, tenant)
    return http.created(tenant, f"{PREFIX}/subscriptions/{sid}")


@router.get("/subscriptions", summary="List subscriptions")
def list_subscriptions(
    request: Request,
    g: GovernedDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    count: bool = False,
) -> Response:
    """The tenant's subscriptions: the caller organisation's, or all of them for callers the
    policies let manage every subscription (operators, administrators)."""
    kind = http.negotiate(request, geo=False)
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    with runtime.reader() as session:
        everyone = runtime.gate.decide(session, g.caller, MANAGE, _resource("*", None)).allowed
    org = None if everyone else g.caller.organisation
    with g.read(MANAGE, _resource("*", org), purpose=f"list on {tenant.name or 'city'}") as s:
        rows, total = subs.list_rows(s, tenant.name, org, limit=limit, offset=offset)
        payload = [_shown(row, terms, ctx, kind, runtime) for row in rows]
    headers = {"NGSILD-Results-Count": str(total)} if count else {}
    return http.respond(payload, kind, ldctx.link_header_for(ctx), headers=headers, tenant=tenant)


@router.get("/subscriptions/{subscriptionId}", summary="Retrieve a subscription")
def retrieve_subscription(
    request: Request, subscriptionId: str, g: GovernedDep, runtime: RuntimeDep
) -> Response:
    """One subscription with its status and delivery record."""
    kind = http.negotiate(request, geo=False)
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    res = _resource(subscriptionId, _organisation_of(runtime, tenant, subscriptionId))
    with g.read(MANAGE, res, purpose="retrieve") as session:
        payload = _shown(
            subs.get_row(session, tenant.name, subscriptionId), terms, ctx, kind, runtime
        )
    return http.respond(payload, kind, ldctx.link_header_for(ctx), tenant=tenant)


@router.patch("/subscriptions/{subscriptionId}", status_code=204, summary="Update a subscription")
async def update_subscription(
    request: Request, subscriptionId: str, g: GovernedDep, runtime: RuntimeDep
) -> Response:
    """Change members of a subscription (``notification`` is merged member by member); the
    result is validated as a whole. A new @context replaces the subscription's."""
    body = await http.read_body(runtime, request, allow_merge_patch=True)
    tenant = http.tenant_of(runtime, request)

    def work() -> Response:
        if not isinstance(body, dict) or not body:
            raise BadRequestData("the body must be a non-empty JSON object", field="body")
        if body.get("id", subscriptionId) != subscriptionId:
            raise BadRequestData("the id of a subscription cannot change", field="id")
        res = _resource(subscriptionId, _organisation_of(runtime, tenant, subscriptionId))
        with runtime.reader() as session:
            row = subs.get_row(session, tenant.name, subscriptionId)
            current_doc = {**row.doc, "isActive": row.active}
        own_context = "@context" in body or request.headers.get("link")
        ctx = http.body_context(request, body) if own_context else current_doc.get("@context")
        terms = http.resolver(runtime, request).terms(ctx or [])
        current = subs.compact_subscription(current_doc, terms)
        merged = {**current, **{k: v for k, v in body.items() if k != "@context"}}
        if isinstance(body.get("notification"), dict):
            merged["notification"] = {**current["notification"], **body["notification"]}
        kept_expiry = None if "expiresAt" in body else merged.pop("expiresAt", None)
        doc = subs.parse_subscription(
            merged,
            terms,
            now=runtime.clock(),
            context=ctx,
            allowed_hosts=runtime.settings.ngsi_notify_hosts,
        )
        if kept_expiry is not None:
            doc["expiresAt"] = kept_expiry
        with g.act(MANAGE, res, purpose="update") as session:
            subs.update_row(
                subs.get_row(session, tenant.name, subscriptionId), doc, runtime.clock()
            )
        _invalidate(request, tenant)
        return http.no_content(tenant)

    return await run_in_threadpool(work)


@router.delete("/subscriptions/{subscriptionId}", status_code=204, summary="Delete a subscription")
def delete_subscription(
    request: Request, subscriptionId: str, g: GovernedDep, runtime: RuntimeDep
) -> Response:
    """Remove a subscription; nothing more is notified for it."""
    tenant = http.tenant_of(runtime, request)
    res = _resource(subscriptionId, _organisation_of(runtime, tenant, subscriptionId))
    with g.act(MANAGE, res, purpose="delete") as session:
        session.delete(subs.get_row(session, tenant.name, subscriptionId))
    _invalidate(request, tenant)
    return http.no_content(tenant)
