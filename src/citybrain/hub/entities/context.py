"""NGSI-LD @context rules of a request (ETSI GS CIM 009 clauses 6.3.5, 6.3.6) and entity
expansion/compaction with the request's :class:`TermMap`.

Core context precedence: the core context is always processed last, so a user context that
redefines a core term (e.g. ``location``) is silently overridden by the core definition. Core
contexts v1.8+ are ``@protected``: pyld raises "protected term redefinition" (answered as
BadRequestData) when a context processed *after* a core context redefines one of its terms,
e.g. a remote user context that includes the core context and then redefines ``location``.
Loading and processing live in :mod:`citybrain.hub.entities.context_loader` (re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from citybrain.hub.entities.context_loader import (
    CORE_CONTEXT_URL,
    CORE_CONTEXT_URLS,
    DEFAULT_VOCAB,
    LOCATION,
    MAX_REMOTE_CONTEXTS,
    NGSI_LD,
    URI,
    VENDORED_CONTEXTS,
    ContextResolver,
    TermMap,
    bad,
    short_name,
    vendored_context,
    with_core,
)
from citybrain.hub.entities.problems import BadRequestData, NgsiError

__all__ = [
    "CORE_CONTEXT_URL",
    "CORE_CONTEXT_URLS",
    "DEFAULT_VOCAB",
    "JSONLD_CONTEXT_REL",
    "LOCATION",
    "MAX_REMOTE_CONTEXTS",
    "VENDORED_CONTEXTS",
    "ContextResolver",
    "TermMap",
    "UnsupportedMediaType",
    "compact_entity",
    "expand_entity",
    "link_header",
    "link_header_for",
    "parse_link_header",
    "request_context",
    "short_name",
    "to_utc_iso",
    "vendored_context",
]

JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
TYPE_KEY = {  # attribute type -> the member holding its value
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "JsonProperty": "json",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
_KIND_BY_IRI = {NGSI_LD + k: k for k in TYPE_KEY}
_VALUE_KEYS = tuple(dict.fromkeys(TYPE_KEY.values()))
_KIND_BY_KEY = {"value": "Property", **{v: k for k, v in TYPE_KEY.items() if v != "value"}}
SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})
#: Members of an attribute object (never sub-attributes); also forbidden as attribute names.
CORE_MEMBERS = frozenset(
    {*_VALUE_KEYS, "type", "objectType", "observedAt", "unitCode", "datasetId", *SYSTEM_MEMBERS}
)
_ENTITY_KEYS = frozenset({"id", "type", "scope", "@context", *SYSTEM_MEMBERS})
_HAS = "hasValue hasObject hasLanguageMap hasJSON hasVocab hasValueList hasObjectList scope"
_RESERVED_IRIS = frozenset(NGSI_LD + n for n in f"{_HAS} {' '.join(CORE_MEMBERS)}".split())
_GEO_IRIS = frozenset(NGSI_LD + n for n in ("location", "observationSpace", "operationSpace"))
_GEOMETRIES = "Point MultiPoint LineString MultiLineString Polygon MultiPolygon GeometryCollection"
GEOMETRY_TYPES = frozenset(_GEOMETRIES.split())
_DATETIME = frozenset({"DateTime", "ngsi-ld:DateTime", NGSI_LD + "DateTime"})


class UnsupportedMediaType(NgsiError):
    """The request body is neither application/json nor application/ld+json: 415."""

    status, problem, etsi = 415, "ngsi-unsupported-media-type", "InvalidRequest"
    title = "Unsupported media type"


_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAMS = rf"(?:\s*;\s*[^\s;,=]+(?:\s*=\s*(?:{_QUOTED}|[^\s;,\"]*))?)*"
_LINK = re.compile(rf"[\s,]*<([^>]*)>({_PARAMS})\s*(?:,|$)")
_PARAM = re.compile(rf";\s*([^\s;,=]+)(?:\s*=\s*(?:({_QUOTED})|([^\s;,\"]*)))?")


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """RFC 8288 Link header -> [(target, {lower-case param: value})], quoted strings unescaped."""
    links: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while value[pos:].strip(" \t,"):
        if (link := _LINK.match(value, pos)) is None:
            raise bad("Link", f"malformed Link header at {value[pos : pos + 40]!r}")
        params: dict[str, str] = {}
        for param in _PARAM.finditer(link.group(2)):
            quoted, bare = param.group(2), param.group(3) or ""
            text = re.sub(r"\\(.)", r"\1", quoted[1:-1]) if quoted else bare
            params.setdefault(param.group(1).lower(), text)  # RFC 8288: the first one counts
        links.append((link.group(1).strip(), params))
        pos = link.end()
    return links


def request_context(content_type: str | None, link_header: str | None, body: Any | None) -> list:
    """The @context list of a request (clauses 6.3.5/6.3.6), core context last.

    ``body`` None (GET, DELETE): the Link header alone. ``application/json`` (and
    ``application/merge-patch+json``): the Link header; an ``@context`` in the body is an error.
    ``application/ld+json``: the body's ``@context`` (required; a Link context header is an
    error). A list body (batch) must share one ``@context``; call once per item otherwise.
    Raises BadRequestData, or UnsupportedMediaType (answer 415) for any other content type.
    """
    links = []
    if link_header:
        links = [
            t
            for t, p in parse_link_header(link_header)
            if JSONLD_CONTEXT_REL in p.get("rel", "").split()
        ]
    if len(links) > 1:
        raise bad("Link", "more than one JSON-LD context Link header")
    if links and not re.match(r"https?://", links[0]):
        raise bad("Link", f"the context link must be an absolute http(s) URL: {links[0]!r}")
    if body is None:
        return with_core(links)
    media = (content_type or "").split(";")[0].strip().lower()
    items = body if isinstance(body, list) else [body]
    if media in ("application/json", "application/merge-patch+json"):
        if any(isinstance(x, Mapping) and "@context" in x for x in items):
            raise bad("@context", "an @context in the body needs Content-Type application/ld+json")
        return with_core(links)
    if media != "application/ld+json":
        raise UnsupportedMediaType(
            f"Content-Type {media or 'missing'}: use application/json or application/ld+json"
        )
    if links:
        raise bad("Link", "a JSON-LD context Link header is not allowed with application/ld+json")
    contexts = [x.get("@context") if isinstance(x, Mapping) else None for x in items]
    if any(c is None for c in contexts):
        raise bad("@context", "an application/ld+json body needs an @context")
    if any(c != contexts[0] for c in contexts):
        raise bad("@context", "the items of this body have different @contexts")
    first = contexts[0] if contexts else []
    return with_core(first if isinstance(first, list) else [first])


def link_header(context_url: str) -> str:
    """The Link header value pointing a JSON response at its @context."""
    return f'<{context_url}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'


def link_header_for(contexts: Sequence[Any]) -> str:
    """The Link header for a JSON response to a request with this context list: the user's
    context URL when it is a single URL (e.g. from a Link header), else the core context."""
    user = [c for c in contexts if not (isinstance(c, str) and c in CORE_CONTEXT_URLS)]
    if len(user) == 1 and isinstance(user[0], str):
        return link_header(user[0])
    cores = [c for c in contexts if isinstance(c, str) and c in CORE_CONTEXT_URLS]
    return link_header(cores[-1] if cores else CORE_CONTEXT_URL)


def to_utc_iso(text: Any) -> str:
    """An ISO 8601 date-time as UTC ``YYYY-MM-DDTHH:MM:SS[.fff[fff]]Z`` (naive = UTC)."""
    if not isinstance(text, str) or "T" not in text:
        raise ValueError("not an ISO 8601 date-time")
    stamp = datetime.fromisoformat(text)
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    micro = stamp.microsecond
    spec = "microseconds" if micro % 1000 else "milliseconds" if micro else "seconds"
    return stamp.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _datetime(path: str, value: Any) -> str:
    try:
        return to_utc_iso(value)
    except ValueError:
        raise bad(path, f"not an ISO 8601 date-time: {str(value)[:40]!r}") from None


def _uri(path: str, value: Any) -> str:
    if not isinstance(value, str) or not URI.fullmatch(value):
        raise bad(path, f"must be a URI, got {str(value)[:80]!r}")
    return value


def _iri(path: str, name: Any, terms: TermMap) -> str:
    if not isinstance(name, str) or not name or name.startswith("@"):
        raise bad(path, f"not a valid name: {name!r}")
    iri = terms.expand_term(name)
    if iri is None or iri.startswith(("@", "_:")) or ":" not in iri:
        raise bad(path, f"{name!r} does not expand to an IRI with this @context")
    return iri


def _is_geojson(value: Any) -> bool:
    kind = value.get("type") if isinstance(value, Mapping) else None
    return (
        isinstance(kind, str)
        and kind in GEOMETRY_TYPES
        and ("coordinates" in value or "geometries" in value)
    )


def _looks_like_attribute(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    kind = value.get("type")
    return (isinstance(kind, str) and kind in TYPE_KEY) or any(k in value for k in _VALUE_KEYS)


def _attribute(path: str, raw: Any, terms: TermMap, geo: bool) -> Any:
    """Normalize an attribute (normalized or concise form; a list of instances allowed)."""
    if isinstance(raw, list) and raw and all(_looks_like_attribute(i) for i in raw):
        return [_instance(f"{path}[{n}]", item, terms, geo) for n, item in enumerate(raw)]
    return _instance(path, raw, terms, geo)


def _instance(path: str, raw: Any, terms: TermMap, geo: bool) -> dict[str, Any]:
    if raw is None:
        raise bad(path, "must not be null")
    if not isinstance(raw, Mapping):
        return {"type": "Property", "value": raw}
    if "@value" in raw:  # concise: a typed literal such as {"@type": "DateTime", "@value": ...}
        return {"type": "Property", "value": _member(path, "value", raw, "Property", terms)}
    given = raw.get("type")
    if given is not None:
        kind = _KIND_BY_IRI.get(terms.expand_type(given)) if isinstance(given, str) else None
        if kind is None:
            if _is_geojson(raw):
                return {"type": "GeoProperty", "value": _geometry(f"{path}.value", dict(raw))}
            raise bad(f"{path}.type", f"unknown attribute type {given!r}")
    else:
        kind = next((_KIND_BY_KEY[k] for k in _VALUE_KEYS if k in raw), None)
        if kind is None:
            return {"type": "Property", "value": dict(raw)}  # concise: a JSON object value
        if kind == "Property" and geo and _is_geojson(raw["value"]):
            kind = "GeoProperty"
    key = TYPE_KEY[kind]
    if key not in raw:
        raise bad(path, f"a {kind} needs '{key}'")
    out: dict[str, Any] = {"type": kind}
    for name, value in raw.items():
        if name == "type" or name in SYSTEM_MEMBERS:
            continue
        if name in _VALUE_KEYS and name != key:
            raise bad(f"{path}.{name}", f"not allowed in a {kind}")
        if name in CORE_MEMBERS:
            out[name] = _member(path, name, value, kind, terms)
        else:
            iri = _iri(f"{path}.{name}", name, terms)
            out[iri] = _attribute(f"{path}.{name}", value, terms, iri in _GEO_IRIS)
    return out


def _member(attr_path: str, name: str, value: Any, kind: str, terms: TermMap) -> Any:
    """Validate and normalize one core member of an attribute."""
    path = f"{attr_path}.{name}"
    if value is None:
        raise bad(path, "must not be null")
    if name == "value":
        if kind == "GeoProperty":
            return _geometry(path, value)
        if isinstance(value, Mapping) and str(value.get("@type")) in _DATETIME:
            return {**value, "@value": _datetime(f"{path}.@value", value.get("@value"))}
        return value
    if name == "observedAt":
        return _datetime(path, value)
    if name == "datasetId":
        return _uri(path, value)
    if name == "unitCode" and not isinstance(value, str):
        raise bad(path, "must be a string")
    if name == "object":
        if isinstance(value, list) and value:
            return [_uri(f"{path}[{n}]", v) for n, v in enumerate(value)]
        return _uri(path, value)
    if name == "languageMap":
        if not isinstance(value, Mapping) or not all(
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(s, str) for s in v))
            for v in value.values()
        ):
            raise bad(path, "must map language tags to strings")
        return dict(value)
    if name in ("vocab", "objectType"):
        names = value if isinstance(value, list) else [value]
        iris = [_iri(f"{path}[{n}]", v, terms) for n, v in enumerate(names)]
        return iris if isinstance(value, list) else iris[0]
    if name in ("valueList", "objectList") and not isinstance(value, list):
        raise bad(path, "must be an array")
    return value


def _geometry(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        raise bad(path, "a GeoProperty value must be a GeoJSON geometry object with 'type'")
    if "coordinates" not in value and "geometries" not in value:
        raise bad(path, "a GeoJSON geometry needs 'coordinates'")
    return dict(value)


def expand_entity(doc: Mapping[str, Any], terms: TermMap) -> dict[str, Any]:
    """A client entity (normalized or concise) -> the internal form, attributes expanded.

    ``{"id", "type": [type IRIs], "scope"?: [...], "attrs": {attribute IRI: attribute}}``;
    attribute objects keep core member names short and key sub-attributes by IRI; a multi-
    instance attribute is a list. System members (createdAt, ...) are dropped. Raises
    BadRequestData naming the path of the first problem (e.g. ``temperature.observedAt``).
    """
    if not isinstance(doc, Mapping):
        raise BadRequestData("an entity must be a JSON object")
    if doc.get("id") is None:
        raise bad("id", "required")
    if doc.get("type") is None:
        raise bad("type", "required")
    given = doc["type"] if isinstance(doc["type"], list) else [doc["type"]]
    types = [
        _iri(f"type[{n}]" if len(given) > 1 else "type", t, terms) for n, t in enumerate(given)
    ]
    out: dict[str, Any] = {"id": _uri("id", doc["id"]), "type": list(dict.fromkeys(types))}
    if (scope := doc.get("scope")) is not None:
        scopes = scope if isinstance(scope, list) else [scope]
        if not all(isinstance(s, str) and s.startswith("/") for s in scopes):
            raise bad("scope", "must be a string or array of strings starting with '/'")
        out["scope"] = scopes
    attrs: dict[str, Any] = {}
    for name, value in doc.items():
        if name in _ENTITY_KEYS:
            continue
        if name in CORE_MEMBERS:
            raise bad(name, "is a reserved name and cannot be an attribute")
        iri = _iri(name, name, terms)
        if iri in _RESERVED_IRIS:
            raise bad(name, "expands to a reserved IRI and cannot be an attribute")
        if iri in attrs:
            raise bad(name, f"another attribute of this entity also expands to {iri}")
        attrs[iri] = _attribute(name, value, terms, iri in _GEO_IRIS)
    out["attrs"] = attrs
    return out


def _compact_member(name: str, value: Any, terms: TermMap) -> Any:
    if name not in ("vocab", "objectType"):
        return value
    if isinstance(value, list):
        return [terms.compact_term(v) for v in value]
    return terms.compact_term(value)


def _compact_attribute(attr: Any, terms: TermMap, mode: str, sys_attrs: bool) -> Any:
    """One internal attribute -> normalized, concise or keyValues form."""
    if isinstance(attr, list):
        return [_compact_attribute(a, terms, mode, sys_attrs) for a in attr]
    kind = attr.get("type", "Property")
    key = TYPE_KEY.get(kind, "value")
    if mode == "keyValues":
        return _compact_member(key, attr.get(key), terms)
    out: dict[str, Any] = {} if mode == "concise" else {"type": kind}
    for name, value in attr.items():
        if name == "type" or (name in SYSTEM_MEMBERS and not sys_attrs):
            continue
        if name in CORE_MEMBERS:
            out[name] = _compact_member(name, value, terms)
        else:
            out[terms.compact_term(name)] = _compact_attribute(value, terms, mode, sys_attrs)
    if mode == "concise" and len(out) == 1 and key in out:
        main = out[key]
        if kind == "GeoProperty":
            return main  # a bare GeoJSON geometry reads back as a GeoProperty
        if (
            kind == "Property"
            and not isinstance(main, Mapping)
            and not (isinstance(main, list) and any(isinstance(v, Mapping) for v in main))
        ):
            return main
    elif mode == "concise" and kind == "GeoProperty":
        out["type"] = "GeoProperty"  # without it, a non-core name would read back as Property
    return out


def compact_entity(
    internal: Mapping[str, Any],
    terms: TermMap,
    *,
    options: set[str] | frozenset[str] = frozenset(),
    attrs: set[str] | None = None,
    context_for_body: list | None = None,
) -> dict[str, Any]:
    """The internal form -> a client representation under ``terms``.

    ``options``: ``keyValues`` (or ``simplified``), ``concise``, ``sysAttrs``; normalized
    otherwise. ``attrs``: the attribute IRIs to include (None = all). ``context_for_body``:
    the ``@context`` to put in the body (application/ld+json responses), or None.
    """
    mode = (
        "keyValues"
        if {"keyValues", "simplified"} & options
        else "concise"
        if "concise" in options
        else "normalized"
    )
    sys_attrs = "sysAttrs" in options and mode != "keyValues"
    types = [terms.compact_type(t) for t in internal["type"]]
    out: dict[str, Any] = {"id": internal["id"], "type": types[0] if len(types) == 1 else types}
    if internal.get("scope"):
        out["scope"] = internal["scope"]
    if sys_attrs:
        out.update(
            {k: internal[k] for k in ("createdAt", "modifiedAt", "deletedAt") if k in internal}
        )
    for iri, attr in internal["attrs"].items():
        if attrs is None or iri in attrs:
            out[terms.compact_term(iri)] = _compact_attribute(attr, terms, mode, sys_attrs)
    if context_for_body is not None:
        out["@context"] = context_for_body[0] if len(context_for_body) == 1 else context_for_body
    return out
