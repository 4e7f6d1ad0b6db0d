"""The home page's traffic-signal panel (交通信号): the live grid's congestion index, the
junctions CityBrain's controller runs and the latest ambulance, from the hub's entity store.

The values are open data of the shared store, read through the gate as the anonymous public
(``entity.open``, one ledger entry per view that shows the panel), exactly as ``/map`` reads
them. Only when the store holds a ``CongestionIndex`` entity at all — a presence check, like
the page's other counts — is the panel read and shown, so a hub without live traffic
(``citybrain serve``, ``CITYBRAIN_DEMO=false``) renders the page as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select

from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import queries
from citybrain.hub.entities.http import Tenant, read_scope
from citybrain.hub.entities.models import NgsiEntity
from citybrain.kernel.errors import CityBrainError
from citybrain.kernel.http import ANONYMOUS, Governed
from citybrain.kernel.runtime import Runtime

log = logging.getLogger(__name__)

INDEX_TYPE = "CongestionIndex"
SIGNAL_TYPE = "TrafficSignal"
AMBULANCE_TYPE = "EmergencyRun"
CONTROLLER = "citybrain"
LIMIT = 500


@dataclass(frozen=True)
class Ambulance:
    """The latest ambulance run: its travel time and the estimated time saved (seconds)."""

    travel_time_s: float
    saved_estimate_s: float
    preempted: int
    simulated_time: str


@dataclass(frozen=True)
class TrafficPanel:
    """What the panel shows."""

    index: float
    simulated_time: str
    controlled: int
    ambulance: Ambulance | None


@cache
def _terms() -> ldctx.TermMap:
    """The core @context (the names the demo's entities are stored under)."""
    resolver = ldctx.ContextResolver(hosts=[], max_bytes=1, timeout_s=1, cache_s=0)
    return resolver.terms(ldctx.request_context(None, None, None))


def _values(row: NgsiEntity) -> dict[str, Any]:
    out = {}
    for iri, attr in row.attrs.items():
        if isinstance(attr, dict):
            out[ldctx.short_name(iri)] = attr.get("value", attr.get("object"))
    return out


def has_live_traffic(runtime: Runtime) -> bool:
    """True when the shared store holds a congestion index (no values are read)."""
    kind = _terms().expand_type(INDEX_TYPE)
    with runtime.reader() as session:
        found = session.scalar(
            select(NgsiEntity.id)
            .where(NgsiEntity.tenant == "", NgsiEntity.entity_type == kind)
            .limit(1)
        )
    return found is not None


def read_panel(runtime: Runtime, request_id: str) -> TrafficPanel | None:
    """The panel's values read as the anonymous public, or None (no live traffic, no open
    congestion index, or the gate said no)."""
    if not has_live_traffic(runtime):
        return None
    terms = _terms()
    g = Governed(ANONYMOUS, runtime, request_id)
    tenant = Tenant("", runtime.settings.city_code)
    action, context, datasets = read_scope(g, runtime, tenant)
    types = tuple(terms.expand_type(t) for t in (INDEX_TYPE, SIGNAL_TYPE, AMBULANCE_TYPE))
    query = queries.EntityQuery(types=types, datasets=datasets)
    try:
        with g.read(
            action, tenant.resource(), purpose="home page: traffic signals", context=context
        ) as session:
            rows, _ = queries.run_query(session, "", query, terms.expand_term, limit=LIMIT)
            found = [
                (terms.compact_type(row.entity_type), row.modified_at, _values(row)) for row in rows
            ]
    except CityBrainError as exc:
        log.warning("home page: traffic panel not shown: %s", exc.one_line())
        return None
    return _panel(found)


def _latest(found: list[tuple[str, datetime, dict[str, Any]]], kind: str) -> dict[str, Any] | None:
    rows = [(when, values) for k, when, values in found if k == kind]
    return max(rows, key=lambda r: r[0])[1] if rows else None


def _panel(found: list[tuple[str, datetime, dict[str, Any]]]) -> TrafficPanel | None:
    index = _latest(found, INDEX_TYPE)
    if index is None or not isinstance(index.get("travelTimeIndex"), int | float):
        return None
    controlled = sum(
        1 for k, _, v in found if k == SIGNAL_TYPE and v.get("controlledBy") == CONTROLLER
    )
    run = _latest(found, AMBULANCE_TYPE)
    ambulance = None
    if run is not None and isinstance(run.get("travelTime"), int | float):
        ambulance = Ambulance(
            travel_time_s=float(run["travelTime"]),
            saved_estimate_s=float(run.get("timeSavedEstimate") or 0.0),
            preempted=int(run.get("preemptedSignals") or 0),
            simulated_time=str(run.get("simulatedTime") or ""),
        )
    return TrafficPanel(
        index=float(index["travelTimeIndex"]),
        simulated_time=str(index.get("simulatedTime") or ""),
        controlled=controlled,
        ambulance=ambulance,
    )
