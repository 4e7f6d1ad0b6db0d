"""NGSI-LD subscriptions (ETSI GS CIM 009, clauses 5.2.12 and 5.8) without HTTP: validate,
store, show and match subscriptions. Delivery lives in :mod:`notifier` (``Notifier``, also
importable from here).

A stored subscription ``doc`` keeps names expanded (entity types, watched and notified
attributes, the geoproperty) beside the subscriber's ``@context``, so that matching does not
depend on who asks and notifications are compacted with the subscriber's own terms.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.hub.entities import geo, service
from citybrain.hub.entities.models import NgsiSubscription
from citybrain.hub.entities.problems import (
    AlreadyExists,
    BadRequestData,
    NgsiError,
    OperationNotSupported,
    ResourceNotFound,
)
from citybrain.hub.entities.q import matches, parse_q
from citybrain.hub.entities.queries import check_id_pattern

JSON, JSON_LD = "application/json", "application/ld+json"
FORMATS = ("normalized", "keyValues", "concise")
SCHEMES = {"http": 80, "https": 443, "mqtt": 1883, "mqtts": 8883}
MAX_TEXT, MAX_LIST = 2000, 1000
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"]+$")
_MEMBERS = {
    *("id", "type", "@context", "subscriptionName", "description", "entities"),
    *("watchedAttributes", "q", "geoQ", "notification", "throttling", "expiresAt"),
    *("isActive", "status", "createdAt", "modifiedAt"),
}
_UNSUPPORTED = {"timeInterval", "csf", "scopeQ", "temporalQ", "lang", "notificationTrigger"}
_NOTE_STATS = {
    *("timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure"),
    *("lastFailureReason", "status"),
}
_NO_HEADERS = {"host", "content-length", "content-type", "link", "transfer-encoding"}


def _bad(detail: str, where: str) -> BadRequestData:
    return BadRequestData(detail, field=where)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise _bad(f"must be a non-empty string of at most {MAX_TEXT} characters", where)
    return value


def _uri(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > 500 or not _URI.match(value):
        raise _bad(f"must be a URI, got {str(value)[:80]!r}", where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value or len(value) > MAX_LIST:
        raise _bad(f"must be a non-empty array of at most {MAX_LIST} items", where)
    return value


def _only(value: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("must be a JSON object", where)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _bad(f"unknown or unsupported member {unknown[0]!r}", f"{where}.{unknown[0]}")
    return value


def _names(value: Any, terms: Any, where: str) -> list[str]:
    out = []
    for i, name in enumerate(_list(value, where)):
        iri = terms.expand_term(_text(name, f"{where}[{i}]"))
        if not iri:
            raise _bad(f"{name!r} is mapped to null by the @context", f"{where}[{i}]")
        out.append(iri)
    return list(dict.fromkeys(out))


def _entities(value: Any, terms: Any) -> list[dict[str, str]]:
    out = []
    for i, item in enumerate(_list(value, "entities")):
        where = f"entities[{i}]"
        _only(item, {"type", "id", "idPattern"}, where)
        entry = {"type": _names([item.get("type")], terms, f"{where}.type")[0]}
        if "id" in item:
            entry["id"] = _uri(item["id"], f"{where}.id")
        if "idPattern" in item:
            try:
                entry["idPattern"] = check_id_pattern(_text(item["idPattern"], "idPattern")) or ""
            except NgsiError as exc:
                raise _bad(exc.detail, f"{where}.idPattern") from exc
        out.append(entry)
    return out


def _geoq(value: Any, terms: Any) -> dict[str, Any]:
    _only(value, {"georel", "geometry", "coordinates", "geoproperty"}, "geoQ")
    if not isinstance(value.get("coordinates"), list):
        raise _bad("must be a JSON array (not text)", "geoQ.coordinates")
    doc = {k: _text(value.get(k), f"geoQ.{k}") for k in ("georel", "geometry")}
    prop = _names([value.get("geoproperty", "location")], terms, "geoQ.geoproperty")[0]
    doc.update(coordinates=value["coordinates"], geoproperty=prop)
    _geo_query(json.dumps(doc, sort_keys=True))
    return doc


@lru_cache(maxsize=1024)
def _geo_query(key: str) -> geo.GeoQuery:
    doc = json.loads(key)
    try:
        gq = geo.parse_geoquery(
            doc["georel"], doc["geometry"], json.dumps(doc["coordinates"]), None
        )
    except NgsiError as exc:
        raise type(exc)(exc.detail, field=f"geoQ.{exc.field or 'georel'}") from exc
    if gq is None:
        raise _bad("georel, geometry and coordinates are all required", "geoQ")
    return gq


def check_endpoint(uri: str, allowed_hosts: Sequence[str]) -> SplitResult:
    """A notification endpoint URI, parsed: http(s) or mqtt(s)://host[:port]/topic only. With
    ``allowed_hosts`` only those host names; otherwise any host none of whose addresses is
    link-local (169.254.0.0/16, fe80::/10). BadRequestData naming notification.endpoint.uri."""
    where = "notification.endpoint.uri"
    parts = urlsplit(_uri(uri, where))
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise _bad(f"scheme {scheme!r} is not one of {', '.join(SCHEMES)}", where)
    try:
        host, port = parts.hostname, parts.port or SCHEMES[scheme]
    except ValueError as exc:
        raise _bad(f"bad port: {exc}", where) from exc
    if not host:
        raise _bad("the URI has no host", where)
    topic = parts.path.lstrip("/")
    if scheme.startswith("mqtt") and (not topic or "+" in topic or "#" in uri):
        raise _bad("an MQTT endpoint needs a topic without wildcards", where)
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip() not in ("", "*")}
    if allowed:
        if host.lower() not in allowed:
            raise _bad(f"host {host!r} is not among the allowed notification hosts", where)
        return parts
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise _bad(f"host {host!r} does not resolve", where) from exc
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if ip.is_link_local:
            raise _bad(f"host {host!r} resolves to a link-local address ({ip})", where)
    return parts


def _pairs(value: Any, where: str) -> list[dict[str, str]]:
    out = []
    for i, item in enumerate(_list(value, where)):
        _only(item, {"key", "value"}, f"{where}[{i}]")
        out.append({k: _text(item.get(k), f"{where}[{i}].{k}") for k in ("key", "value")})
    return out


def info_value(endpoint: Mapping[str, Any], *keys: str) -> str | None:
    """The value of the first of ``keys`` in the endpoint's notifierInfo (case-insensitive)."""
    found = {p["key"].lower(): p["value"] for p in endpoint.get("notifierInfo", [])}
    return next((found[k.lower()] for k in keys if k.lower() in found), None)


def _notification(value: Any, terms: Any, allowed_hosts: Sequence[str]) -> dict[str, Any]:
    where = "notification"
    if not isinstance(value, dict):
        raise _bad("a subscription needs a notification object with an endpoint", where)
    _only(value, {"attributes", "format", "endpoint"} | _NOTE_STATS, where)
    out: dict[str, Any] = {"format": value.get("format", "normalized")}
    if out["format"] not in FORMATS:
        raise _bad(f"must be one of {', '.join(FORMATS)}", f"{where}.format")
    if "attributes" in value:
        out["attributes"] = _names(value["attributes"], terms, f"{where}.attributes")
    if not isinstance(value.get("endpoint"), dict):
        raise _bad("the notification needs an endpoint object", f"{where}.endpoint")
    raw = _only(value["endpoint"], {"uri", "accept", "notifierInfo", "receiverInfo"}, "endpoint")
    check_endpoint(raw.get("uri"), allowed_hosts)
    ep: dict[str, Any] = {"uri": raw["uri"], "accept": raw.get("accept", JSON)}
    if ep["accept"] not in (JSON, JSON_LD):
        raise _bad(f"must be {JSON} or {JSON_LD}", f"{where}.endpoint.accept")
    for name in ("notifierInfo", "receiverInfo"):
        if name in raw:
            ep[name] = _pairs(raw[name], f"{where}.endpoint.{name}")
    for pair in ep.get("receiverInfo", []):
        if pair["key"].lower() in _NO_HEADERS or not re.fullmatch(r"[A-Za-z0-9-]+", pair["key"]):
            raise _bad(f"header {pair['key']!r} cannot be set", f"{where}.endpoint.receiverInfo")
    if info_value(ep, "MQTT-QoS", "qos") not in (None, "0", "1", "2"):
        raise _bad("MQTT-QoS must be 0, 1 or 2", f"{where}.endpoint.notifierInfo")
    out["endpoint"] = ep
    return out


def parse_subscription(
    body: Any,
    terms: Any,
    *,
    now: datetime,
    context: list[Any] | None = None,
    allowed_hosts: Sequence[str] = (),
) -> dict[str, Any]:
    """Validate a subscription body; return its stored (expanded) form, ``@context`` kept.

    BadRequestData names the member at fault; OperationNotSupported for members this broker
    does not implement (``timeInterval``, ``csf``, ``scopeQ``, ``temporalQ``, ``lang``).
    """
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object", "body")
    for name in body:
        if name in _UNSUPPORTED:
            raise OperationNotSupported(f"{name} is not supported", field=name)
    _only(body, _MEMBERS, "subscription")
    sid = _uri(body["id"], "id") if "id" in body else f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
    if body.get("type") != "Subscription":
        raise _bad("type must be 'Subscription'", "type")
    doc: dict[str, Any] = {"id": sid, "type": "Subscription"}
    doc.update({k: _text(body[k], k) for k in ("subscriptionName", "description") if k in body})
    if "entities" in body:
        doc["entities"] = _entities(body["entities"], terms)
    if "watchedAttributes" in body:
        doc["watchedAttributes"] = _names(body["watchedAttributes"], terms, "watchedAttributes")
    if not doc.get("entities") and not doc.get("watchedAttributes"):
        raise _bad("give entities, watchedAttributes or both", "entities")
    if "q" in body:
        try:
            parse_q(_text(body["q"], "q"))
        except NgsiError as exc:
            raise _bad(exc.detail, "q") from exc
        doc["q"] = body["q"]
    if "geoQ" in body:
        doc["geoQ"] = _geoq(body["geoQ"], terms)
    doc["notification"] = _notification(body.get("notification"), terms, allowed_hosts)
    if "throttling" in body:
        value = body["throttling"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e7:
            raise _bad("must be a number of seconds >= 0", "throttling")
        doc["throttling"] = value
    if "expiresAt" in body:
        expires = service.parse_instant(_text(body["expiresAt"], "expiresAt"), "expiresAt")
        if expires <= now:
            raise _bad("must lie in the future", "expiresAt")
        doc["expiresAt"] = service.iso(expires)
    doc["isActive"] = body.get("isActive", True)
    if not isinstance(doc["isActive"], bool):
        raise _bad("must be true or false", "isActive")
    doc["@context"] = context if context is not None else body.get("@context")
    return doc


def status_of(doc: Mapping[str, Any], now: datetime | None) -> str:
    """``expired`` past expiresAt, ``paused`` when not active, else ``active``."""
    expires = doc.get("expiresAt")
    if now is not None and expires and service.parse_instant(expires, "expiresAt") <= now:
        return "expired"
    return "active" if doc.get("isActive", True) else "paused"


def compact_subscription(
    doc: Mapping[str, Any], terms: Any, *, now: datetime | None = None
) -> dict[str, Any]:
    """The subscription as GET shows it, names compacted with ``terms``; the delivery record
    (``doc["stats"]``: timesSent, lastNotification, lastSuccess, ...) goes into notification."""
    short = terms.compact_term
    out: dict[str, Any] = {"id": doc["id"], "type": "Subscription"}
    out.update({k: doc[k] for k in ("subscriptionName", "description") if k in doc})
    if "entities" in doc:
        out["entities"] = [{**e, "type": short(e["type"])} for e in doc["entities"]]
    if "watchedAttributes" in doc:
        out["watchedAttributes"] = [short(a) for a in doc["watchedAttributes"]]
    if "q" in doc:
        out["q"] = doc["q"]
    if "geoQ" in doc:
        out["geoQ"] = {**doc["geoQ"], "geoproperty": short(doc["geoQ"]["geoproperty"])}
    note = {**doc["notification"], **(doc.get("stats") or {})}
    if "attributes" in note:
        note["attributes"] = [short(a) for a in note["attributes"]]
    if note.get("timesSent"):
        failed = note.get("lastFailure", "") > note.get("lastSuccess", "")
        note["status"] = "failed" if failed else "ok"
    out["notification"] = note
    names = ("throttling", "expiresAt", "isActive", "createdAt", "modifiedAt")
    out.update({k: doc[k] for k in names if k in doc})
    out["status"] = status_of(doc, now)
    return out


def entity_matches(
    sub_doc: Mapping[str, Any],
    row: Any,
    expand: Callable[[str], str],
    written: Iterable[str] | None = None,
    *,
    watched: bool = True,
) -> bool:
    """Whether an entity (row with entity_id/entity_type/attrs, or a mapping with id/type/
    attrs) concerns the subscription: type and id/idPattern, a watched attribute among
    ``written`` (attribute IRIs the write set; None: any the entity has), ``q``, ``geoQ``."""
    as_map = isinstance(row, Mapping)
    eid = row["id"] if as_map else row.entity_id
    etype = row["type"] if as_map else row.entity_type
    attrs = row["attrs"] if as_map else row.attrs
    types = etype if isinstance(etype, list) else [etype]
    selectors = sub_doc.get("entities")
    if selectors and not any(
        s["type"] in types
        and s.get("id", eid) == eid
        and ("idPattern" not in s or re.search(s["idPattern"], eid))
        for s in selectors
    ):
        return False
    wanted = sub_doc.get("watchedAttributes")
    if watched and wanted and set(attrs if written is None else written).isdisjoint(wanted):
        return False
    if "q" in sub_doc and not matches(parse_q(sub_doc["q"]), attrs, expand):
        return False
    if sub_doc.get("geoQ"):
        attr = attrs.get(sub_doc["geoQ"]["geoproperty"])
        if not isinstance(attr, Mapping) or attr.get("type") != "GeoProperty":
            return False
        gq = _geo_query(json.dumps(sub_doc["geoQ"], sort_keys=True))
        return bool(geo.matches_geo(gq, attr.get("value") or {}))
    return True


def announce(state: Any, tenant: str, entity_ids: list[str], attrs: set[str] | None) -> None:
    """Tell the app's notifier (``state.ngsi_notifier``, if any) about a committed write."""
    notifier = getattr(state, "ngsi_notifier", None)
    if notifier is not None and entity_ids:
        notifier.changed(tenant, entity_ids, attrs)


def get_row(session: Session, tenant: str, sub_id: str) -> NgsiSubscription:
    """The stored subscription; ResourceNotFound naming ``subscriptionId``."""
    row = session.scalar(
        select(NgsiSubscription).where(
            NgsiSubscription.tenant == tenant, NgsiSubscription.sub_id == sub_id
        )
    )
    if row is None:
        raise ResourceNotFound(f"no subscription {sub_id!r}", field="subscriptionId")
    return row


def insert_row(
    session: Session,
    tenant: str,
    doc: dict[str, Any],
    *,
    owner: str,
    organisation: str,
    now: datetime,
) -> None:
    """Store a new subscription; AlreadyExists when its id is taken in the tenant."""
    taken = session.scalar(
        select(NgsiSubscription.id).where(
            NgsiSubscription.tenant == tenant, NgsiSubscription.sub_id == doc["id"]
        )
    )
    if taken is not None:
        raise AlreadyExists(f"subscription {doc['id']!r} exists already", field="id")
    session.add(
        NgsiSubscription(
            tenant=tenant,
            sub_id=doc["id"],
            doc={k: v for k, v in doc.items() if k != "isActive"},
            active=doc["isActive"],
            owner=owner,
            organisation=organisation,
            created_at=now,
            modified_at=now,
            times_sent=0,
            times_failed=0,
        )
    )


def update_row(row: NgsiSubscription, doc: dict[str, Any], now: datetime) -> None:
    """Replace a stored subscription's doc (its id stays) and activity."""
    row.doc = {k: v for k, v in doc.items() if k != "isActive"}
    row.active = doc["isActive"]
    row.modified_at = now


def list_rows(
    session: Session, tenant: str, organisation: str | None, *, limit: int, offset: int
) -> tuple[list[NgsiSubscription], int]:
    """A page of the tenant's subscriptions (of one organisation, or all) and their count."""
    where = [NgsiSubscription.tenant == tenant]
    if organisation is not None:
        where.append(NgsiSubscription.organisation == organisation)
    total = session.scalar(select(func.count()).select_from(NgsiSubscription).where(*where))
    stmt = select(NgsiSubscription).where(*where).order_by(NgsiSubscription.id)
    return list(session.scalars(stmt.offset(offset).limit(limit))), int(total or 0)


def row_doc(row: NgsiSubscription) -> dict[str, Any]:
    """A stored row's doc with its system members: activity, times, the delivery record."""
    doc = dict(row.doc)
    doc.update(
        isActive=row.active,
        createdAt=service.iso(row.created_at),
        modifiedAt=service.iso(row.modified_at),
    )
    stats: dict[str, Any] = {"timesSent": row.times_sent, "timesFailed": row.times_failed}
    for key, value in (
        ("lastNotification", row.last_notification),
        ("lastSuccess", row.last_success),
        ("lastFailure", row.last_failure),
    ):
        if value is not None:
            stats[key] = service.iso(value)
    if row.last_failure_reason:
        stats["lastFailureReason"] = row.last_failure_reason
    doc["stats"] = stats
    return doc


def __getattr__(name: str) -> Any:
    """``Notifier`` lives in :mod:`citybrain.hub.entities.notifier` (imported on first use)."""
    if name == "Notifier":
        from citybrain.hub.entities.notifier import Notifier

        return Notifier
    raise AttributeError(name)
