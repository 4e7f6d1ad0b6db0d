"""Temporal retrieval (``GET /temporal/entities/{entityId}``): every value an entity's
attributes had, filtered by ``timerel``/``timeAt``/``endTimeAt`` and ``lastN``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import http, service
from citybrain.hub.entities.api import PREFIX, AttrsQuery, RuntimeDep, _expand_attrs
from citybrain.hub.entities.problems import BadRequestData, ResourceNotFound
from citybrain.kernel.http import PublicDep

MAX_INSTANCES = 10_000
router = APIRouter(prefix=PREFIX, tags=["ngsi-ld"])


def time_window(
    timerel: str | None, time_at: str | None, end_time_at: str | None
) -> tuple[datetime | None, datetime | None]:
    """[since, until) from the temporal query parameters; BadRequestData naming the field."""
    if timerel is None:
        if time_at or end_time_at:
            raise BadRequestData("timeAt needs timerel", field="timerel")
        return None, None
    if timerel not in ("before", "after", "between"):
        raise BadRequestData("timerel must be before, after or between", field="timerel")
    if not time_at:
        raise BadRequestData("timerel needs timeAt", field="timeAt")
    at = service.parse_instant(time_at, "timeAt")
    if timerel == "before":
        return None, at
    if timerel == "after":
        return at, None
    if not end_time_at:
        raise BadRequestData("timerel=between needs endTimeAt", field="endTimeAt")
    end = service.parse_instant(end_time_at, "endTimeAt")
    if end <= at:
        raise BadRequestData("endTimeAt must be after timeAt", field="endTimeAt")
    return at, end


def instances(
    revisions: list[Any],
    wanted: set[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, list[tuple[datetime, dict[str, Any]]]]:
    """attribute IRI → [(time, instance)] in time order, inside the window."""
    out: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
    for rev in revisions:
        for name, inst in rev.attrs.items():
            if wanted is not None and name not in wanted:
                continue
            if not isinstance(inst, dict):
                continue
            stamp = inst.get("observedAt")
            when = service.parse_instant(stamp, "observedAt") if stamp else rev.recorded_at
            if since is not None and when < since:
                continue
            if until is not None and when >= until:
                continue
            out.setdefault(name, []).append((when, inst))
    for series in out.values():
        series.sort(key=lambda pair: pair[0])
    return out


@router.get("/temporal/entities/{entityId}", summary="Temporal evolution of an entity")
def temporal_entity(
    request: Request,
    entityId: str,
    g: PublicDep,
    runtime: RuntimeDep,
    attrs: AttrsQuery = None,
    timerel: Annotated[str | None, Query(max_length=10)] = None,
    timeAt: Annotated[str | None, Query(max_length=40)] = None,
    endTimeAt: Annotated[str | None, Query(max_length=40)] = None,
    lastN: Annotated[int | None, Query(ge=1, le=MAX_INSTANCES)] = None,
    options: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The entity's attribute instances over time (``options=temporalValues``: simplified)."""
    kind = http.negotiate(request, geo=False)
    tenant = http.tenant_of(runtime, request)
    ctx = http.query_context(request)
    terms = http.resolver(runtime, request).terms(ctx)
    since, until = time_window(timerel, timeAt, endTimeAt)
    if options not in (None, "temporalValues", "normalized"):
        raise BadRequestData("options must be temporalValues", field="options")
    wanted = _expand_attrs(attrs, terms)
    action, policy_ctx, datasets = http.read_scope(g, runtime, tenant)
    with g.read(
        action, tenant.resource(), purpose=f"temporal {entityId}", context=policy_ctx
    ) as session:
        revisions = service.history_of(
            session, tenant.name, entityId, since=since, until=until, limit=MAX_INSTANCES
        )
        try:
            row = service.get_entity(session, tenant.name, entityId)
            etype, dataset = row.entity_type, row.dataset
        except ResourceNotFound:
            if not revisions:
                raise
            etype, dataset = "", None
    if datasets is not None and dataset not in datasets:
        raise ResourceNotFound(f"no entity {entityId!r}", field="entityId")
    series = instances(revisions, wanted, since, until)
    payload: dict[str, Any] = {"id": entityId}
    if etype:
        payload["type"] = terms.compact_term(etype)
    for name, items in sorted(series.items()):
        if lastN:
            items = items[-lastN:]
        short = terms.compact_term(name)
        if options == "temporalValues":
            first = items[0][1]
            payload[short] = {
                "type": first.get("type", "Property"),
                "values": [[i.get("value", i.get("object")), service.iso(t)] for t, i in items],
            }
        else:
            payload[short] = [_compact_instance(inst, terms) for _, inst in items]
    if kind == http.JSON_LD:
        payload["@context"] = ctx
    return http.respond(payload, kind, ldctx.link_header_for(ctx), tenant=tenant)


def _compact_instance(inst: dict[str, Any], terms: Any) -> dict[str, Any]:
    return {(k if ":" not in k else terms.compact_term(k)): v for k, v in inst.items()}
