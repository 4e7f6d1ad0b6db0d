"""@context handling: request rules, safe loading of user contexts from a local server, term
maps built by pyld, and entity expansion/compaction cross-checked against pyld's expand."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyld import jsonld

from citybrain.hub.entities import context as c
from citybrain.hub.entities.problems import BadRequestData, LdContextNotAvailable

CORE = c.CORE_CONTEXT_URL
CORE19 = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"
UNVERSIONED = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
NGSI = "https://uri.etsi.org/ngsi-ld/"
VOCAB = NGSI + "default-context/"
REL = 'rel="http://www.w3.org/ns/json-ld#context"'
LD = "application/ld+json"
USER = {"temperature": "http://ex.org/temp", "ex": "http://ex.org/", "Room": "http://ex.org/Room"}


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (status, content type, body bytes, options)``."""

    def do_GET(self) -> None:
        server: Any = self.server
        server.hits[self.path] = server.hits.get(self.path, 0) + 1
        status, ctype, body, opts = server.routes.get(self.path, (404, "text/plain", b"no", {}))
        try:
            time.sleep(opts.get("delay", 0))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for name, value in opts.get("headers", {}).items():
                self.send_header(name, value)
            if not opts.get("drip") and not opts.get("no_length"):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            step = 64 if opts.get("drip") else max(len(body), 1)
            for n in range(0, len(body), step):
                self.wfile.write(body[n : n + step])
                self.wfile.flush()
                time.sleep(opts.get("drip", 0))
        except OSError:
            pass  # the client gave up (timeout tests)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


class Server:
    """A local context server on a free port."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes, self.httpd.hits = {}, {}  # type: ignore[attr-defined]
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, path: str, doc: Any, status: int = 200, **opts: Any) -> str:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        ctype = opts.pop("ctype", "application/ld+json")
        self.httpd.routes[path] = (status, ctype, body, opts)  # type: ignore[attr-defined]
        return self.base + path

    def hits(self, path: str) -> int:
        return self.httpd.hits.get(path, 0)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.httpd.shutdown()


@pytest.fixture
def resolver() -> c.ContextResolver:
    return c.ContextResolver(["127.0.0.1"], max_bytes=4096, timeout_s=0.5, cache_s=60)


def terms_for(resolver: c.ContextResolver, user: Any) -> c.TermMap:
    return resolver.terms(c.request_context(LD, None, {"@context": user}))


def refused(resolver: c.ContextResolver, url: str) -> str:
    """The 503 detail of resolving a user context ``url``."""
    with pytest.raises(LdContextNotAvailable) as err:
        resolver.terms([url, CORE])
    assert err.value.status == 503 and "is not available" in err.value.detail
    return err.value.detail


def test_vendored_core_contexts_load_for_their_urls() -> None:
    for url in c.CORE_CONTEXT_URLS:
        doc = c.vendored_context(c.VENDORED_CONTEXTS[url])
        assert doc["@context"]["@vocab"] == VOCAB
        assert doc["@context"]["GeoProperty"] == "ngsi-ld:GeoProperty"
    assert len(c.CORE_CONTEXT_URLS) == 8  # v1.6, v1.8, v1.9, unversioned; https and http
    newest = c.vendored_context("ngsi-ld-core-context-v1.9.jsonld")
    assert c.vendored_context("ngsi-ld-core-context.jsonld") == newest
    assert c.vendored_context("ngsi-ld-core-context-v1.8.jsonld")["@context"]["@protected"]


@pytest.mark.parametrize("core", sorted(c.CORE_CONTEXT_URLS))
def test_every_core_version_processes_without_network(core: str) -> None:
    terms = c.ContextResolver().terms([core])
    assert terms.core_url == core
    assert terms.expand_term("location") == NGSI + "location"
    assert terms.expand_term("observedAt") == NGSI + "observedAt"


def test_pyld_global_state_is_left_alone(resolver: c.ContextResolver, server: Server) -> None:
    before = jsonld.get_document_loader()
    url = server.serve("/global.jsonld", {"@context": {"g": "http://g.example/"}})
    terms_for(resolver, [url])
    assert jsonld.get_document_loader() is before
    assert url not in jsonld._resolved_context_cache  # no pyld-global caching of remote docs


def test_link_header_is_parsed_per_rfc_8288() -> None:
    assert c.request_context(None, None, None) == [CORE]  # no Link: the core context alone
    header = (
        '<http://a.example/x>; rel="next", <http://c.example/ctx.jsonld>; '
        'rel="alternate http://www.w3.org/ns/json-ld#context"; title="a, \\"b\\"; c"; '
        'type="application/ld+json"'
    )
    links = c.parse_link_header(header)
    assert links[1][1]["title"] == 'a, "b"; c'
    assert c.request_context(None, header, None) == ["http://c.example/ctx.jsonld", CORE]
    assert c.parse_link_header("<u>; REL=a; rel=b")[0][1]["rel"] == "a"  # first one counts


@pytest.mark.parametrize(
    "header",
    [
        f"<http://a.example/1>; {REL}, <http://a.example/2>; {REL}",  # two contexts
        f"<http://a.example/1; {REL}",  # unterminated target
        f"http://a.example/1; {REL}",  # no angle brackets
        f"<relative.jsonld>; {REL}",  # not absolute
    ],
)
def test_bad_link_headers_are_bad_request_data(header: str) -> None:
    with pytest.raises(BadRequestData) as err:
        c.request_context(None, header, None)
    assert err.value.field == "Link"


def test_json_body_takes_the_link_and_refuses_a_body_context() -> None:
    link, want = f"<http://a.example/c.jsonld>; {REL}", ["http://a.example/c.jsonld", CORE]
    assert c.request_context("application/json; charset=utf-8", link, {"id": "urn:x"}) == want
    with pytest.raises(BadRequestData) as err:
        c.request_context("application/json", None, {"@context": USER})
    assert err.value.field == "@context"


def test_ld_json_body_takes_its_context_and_puts_the_core_last() -> None:
    assert c.request_context(LD, None, {"@context": [CORE19, USER]}) == [USER, CORE19]
    assert c.request_context(LD, None, {"@context": "http://a/c"}) == ["http://a/c", CORE]
    batch = [{"@context": USER, "id": "urn:a"}, {"@context": USER, "id": "urn:b"}]
    assert c.request_context(LD, None, batch) == [USER, CORE]
    with pytest.raises(BadRequestData):
        c.request_context(LD, None, [batch[0], {"@context": "http://o/c"}])


def test_ld_json_errors() -> None:
    with pytest.raises(BadRequestData) as err:
        c.request_context(LD, f"<http://a/c>; {REL}", {"@context": USER})
    assert err.value.field == "Link"
    with pytest.raises(BadRequestData) as err:
        c.request_context(LD, None, {"id": "urn:x"})
    assert err.value.field == "@context"
    with pytest.raises(BadRequestData):
        c.request_context(LD, None, {"@context": 42})


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", None])
def test_other_content_types_are_415(ctype: str | None) -> None:
    with pytest.raises(c.UnsupportedMediaType) as err:
        c.request_context(ctype, None, {"id": "urn:x"})
    assert err.value.status == 415


def test_link_header_values() -> None:
    assert c.link_header(CORE) == f'<{CORE}>; {REL}; type="application/ld+json"'
    assert c.link_header_for(["http://a/c", CORE]) == c.link_header("http://a/c")
    assert c.link_header_for([USER, CORE19]) == c.link_header(CORE19)
    assert c.link_header_for([CORE]) == c.link_header(CORE)


def test_term_map_expands_like_json_ld(resolver: c.ContextResolver) -> None:
    terms = terms_for(resolver, USER)
    assert terms.expand_term("temperature") == "http://ex.org/temp"
    assert terms.expand_term("ex:humidity") == "http://ex.org/humidity"
    assert terms.expand_term("ngsi-ld:foo") == NGSI + "foo"
    assert terms.expand_term("http://other.org/x") == "http://other.org/x"
    assert terms.expand_term("urn:a:b") == "urn:a:b"
    assert terms.expand_term("unknown") == VOCAB + "unknown"
    assert terms.expand_type("Room") == "http://ex.org/Room"


def test_term_map_compacts_to_shortest_term_then_vocab_then_compact_iri(
    resolver: c.ContextResolver,
) -> None:
    same = {"t": "http://ex.org/temp", "tempLong": "http://ex.org/temp"}
    terms = terms_for(resolver, {**USER, **same})
    assert terms.compact_term("http://ex.org/temp") == "t"
    assert terms.compact_term(VOCAB + "speed") == "speed"
    assert terms.compact_term("http://ex.org/other") == "ex:other"
    assert terms.compact_term(NGSI + "zzz") == "ngsi-ld:zzz"
    assert terms.compact_term(NGSI + "location") == "location"
    assert terms.compact_term("http://nowhere.example/x") == "http://nowhere.example/x"


def test_user_context_cannot_override_core_terms(
    resolver: c.ContextResolver, server: Server
) -> None:
    # processed before the core, a redefinition is silently overridden by the core
    terms = terms_for(resolver, [{"location": "http://ex.org/loc"}, CORE])
    assert terms.expand_term("location") == NGSI + "location"
    # after a (protected) core, pyld refuses the redefinition
    url = server.serve("/redefine.jsonld", {"@context": [CORE, {"location": "http://x/loc"}]})
    with pytest.raises(BadRequestData, match="protected term redefinition"):
        terms_for(resolver, [url])


def test_null_mapped_term_cannot_be_an_attribute(resolver: c.ContextResolver) -> None:
    terms = terms_for(resolver, {"secret": None})
    assert terms.expand_term("secret") is None
    with pytest.raises(BadRequestData) as err:
        c.expand_entity({"id": "urn:a", "type": "T", "secret": 1}, terms)
    assert err.value.field == "secret"


def test_processed_contexts_are_cached(resolver: c.ContextResolver) -> None:
    assert terms_for(resolver, USER) is terms_for(resolver, USER)


def test_remote_context_is_fetched_once_and_cached(
    resolver: c.ContextResolver, server: Server
) -> None:
    url = server.serve("/cached.jsonld", {"@context": {"speed": "http://ex.org/speed"}})
    link = f'<{url}>; {REL}; type="application/ld+json"'
    for _ in range(3):
        terms = resolver.terms(c.request_context(None, link, None))
        assert terms.expand_term("speed") == "http://ex.org/speed"
    assert server.hits("/cached.jsonld") == 1


def test_cache_lifetime_zero_refetches(server: Server) -> None:
    fresh = c.ContextResolver(["127.0.0.1"], cache_s=0)
    url = server.serve("/fresh.jsonld", {"@context": {"a": "http://ex.org/a"}})
    fresh.terms([url, CORE])
    fresh.terms([url, CORE])
    assert server.hits("/fresh.jsonld") == 2


def test_hosts_not_allowed_are_refused_without_fetching(server: Server) -> None:
    url = server.serve("/nope.jsonld", {"@context": {}})
    assert "not allowed" in refused(c.ContextResolver([]), url)
    assert "non-public address" in refused(c.ContextResolver(["*"]), url)  # "*" is public only
    assert "only http(s)" in refused(c.ContextResolver(["*"]), "file:///etc/passwd")
    assert server.hits("/nope.jsonld") == 0


def test_explicitly_listed_localhost_is_allowed() -> None:
    answer = httpx.Response(200, json={"@context": {"z": "http://ex.org/z"}})
    local = c.ContextResolver(["localhost"], transport=httpx.MockTransport(lambda r: answer))
    assert local.terms(["http://localhost:9/c.jsonld", CORE]).expand_term("z") == "http://ex.org/z"


@pytest.mark.parametrize(
    ("path", "doc", "opts", "reason"),
    [
        ("/missing.jsonld", None, {}, "HTTP status 404"),
        ("/html.jsonld", b"<html></html>", {"ctype": "text/html"}, "not JSON"),
        ("/big.jsonld", {"@context": {"x": "y" * 5000}}, {}, "too large"),
        ("/big-chunked.jsonld", {"@context": {"x": "y" * 5000}}, {"no_length": True}, "too large"),
        ("/broken.jsonld", b"{not json", {}, "not valid JSON"),
        ("/array.jsonld", [1, 2], {}, "not a JSON object"),
        ("/slow.jsonld", {"@context": {}}, {"delay": 1.5}, "timed out"),
        ("/drip.jsonld", {"@context": {"x": "y" * 3000}}, {"drip": 0.05}, "timed out"),
    ],
)
def test_unusable_contexts_are_ld_context_not_available(
    resolver: c.ContextResolver, server: Server, path: str, doc: Any, opts: dict, reason: str
) -> None:
    url = server.base + path if doc is None else server.serve(path, doc, **opts)
    assert f"@context {url} is not available: {reason}" in refused(resolver, url)


def test_redirects_are_not_followed(resolver: c.ContextResolver, server: Server) -> None:
    target = server.serve("/target.jsonld", {"@context": {}})
    url = server.serve("/moved.jsonld", b"", status=302, headers={"Location": target})
    assert "302 (redirects are not followed)" in refused(resolver, url)
    assert server.hits("/target.jsonld") == 0


def test_context_cycles_and_long_chains_end(resolver: c.ContextResolver, server: Server) -> None:
    a, b = server.base + "/loop-a.jsonld", server.base + "/loop-b.jsonld"
    server.serve("/loop-a.jsonld", {"@context": [b, {"x": "http://ex.org/x"}]})
    server.serve("/loop-b.jsonld", {"@context": [a]})
    with pytest.raises(BadRequestData, match="@context"):
        terms_for(resolver, [a])
    for n in range(12):
        server.serve(f"/chain-{n}.jsonld", {"@context": [f"{server.base}/chain-{n + 1}.jsonld"]})
    server.serve("/chain-12.jsonld", {"@context": {}})
    assert "more than 10 remote" in refused(resolver, server.base + "/chain-0.jsonld")


def test_remote_context_including_another_core_version_works(
    resolver: c.ContextResolver, server: Server
) -> None:
    url = server.serve("/sdm.jsonld", {"@context": [UNVERSIONED, {"pm25": "http://ex.org/pm25"}]})
    terms = resolver.terms(c.request_context(None, f"<{url}>; {REL}", None))
    assert terms.core_url == UNVERSIONED  # not v1.8 appended after v1.9: no protected clash
    assert terms.expand_term("pm25") == "http://ex.org/pm25"


def test_concurrent_requests_share_one_processed_context(
    resolver: c.ContextResolver, server: Server
) -> None:
    url = server.serve("/shared.jsonld", {"@context": {"co2": "http://ex.org/co2"}})
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: resolver.terms([url, CORE]), range(8)))
    assert all(t is results[0] for t in results)
    assert results[0].expand_term("co2") == "http://ex.org/co2"


ROOM = json.loads("""{"id": "urn:ngsi-ld:Room:1", "type": "Room",
 "temperature": {"type": "Property", "value": 21.5, "observedAt": "2024-01-01T10:00:00+02:00",
                 "unitCode": "CEL", "accuracy": {"type": "Property", "value": 0.5}},
 "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"},
 "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [120.1, 30.2]}},
 "label": {"type": "LanguageProperty", "languageMap": {"en": "Kitchen", "zh": "厨房"}}}""")
CONCISE_ROOM = json.loads("""{"id": "urn:ngsi-ld:Room:1", "type": "Room",
 "temperature": {"value": 21.5, "observedAt": "2024-01-01T08:00:00Z", "unitCode": "CEL",
                 "accuracy": 0.5},
 "owner": {"object": "urn:ngsi-ld:Person:1"},
 "location": {"type": "Point", "coordinates": [120.1, 30.2]},
 "label": {"languageMap": {"en": "Kitchen", "zh": "厨房"}}}""")
# [attribute name, concise or normalized value, internal form]
CONCISE_CASES = json.loads("""[
 ["speed", 80, {"type": "Property", "value": 80}],
 ["tags", ["a", "b"], {"type": "Property", "value": ["a", "b"]}],
 ["address", {"street": "X"}, {"type": "Property", "value": {"street": "X"}}],
 ["location", {"value": {"type": "Point", "coordinates": [1, 2]}},
  {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}],
 ["area", {"value": {"type": "Point", "coordinates": [1, 2]}},
  {"type": "Property", "value": {"type": "Point", "coordinates": [1, 2]}}],
 ["area", {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
  {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}],
 ["since", {"@type": "DateTime", "@value": "2024-05-01T01:00:00.5+01:00"},
  {"type": "Property", "value": {"@type": "DateTime", "@value": "2024-05-01T00:00:00.500Z"}}],
 ["t", [{"type": "Property", "value": 1, "datasetId": "urn:ds:1"}, {"value": 2}],
  [{"type": "Property", "value": 1, "datasetId": "urn:ds:1"}, {"type": "Property", "value": 2}]],
 ["o", {"object": ["urn:a", "urn:b"], "observedAt": "2024-01-01T00:00:00"},
  {"type": "Relationship", "object": ["urn:a", "urn:b"], "observedAt": "2024-01-01T00:00:00Z"}]
]""")
# [changes to ROOM (null removes id/type), the field the error names]
INVALID_CASES = json.loads("""[
 [{"id": null}, "id"], [{"id": "not a uri"}, "id"], [{"type": null}, "type"],
 [{"value": {"type": "Property", "value": 1}}, "value"],
 [{"https://uri.etsi.org/ngsi-ld/hasValue": 1}, "https://uri.etsi.org/ngsi-ld/hasValue"],
 [{"ex:temp": 1}, "ex:temp"],
 [{"temperature": {"type": "Property"}}, "temperature"],
 [{"temperature": {"type": "Weird", "value": 1}}, "temperature.type"],
 [{"temperature": {"value": 1, "observedAt": "yesterday"}}, "temperature.observedAt"],
 [{"temperature": {"value": 1, "accuracy": {"value": 1, "observedAt": "2024-01-01"}}},
  "temperature.accuracy.observedAt"],
 [{"temperature": null}, "temperature"],
 [{"owner": {"type": "Relationship", "object": "no uri"}}, "owner.object"],
 [{"owner": {"type": "Relationship", "object": "urn:a", "value": 1}}, "owner.value"],
 [{"location": {"type": "GeoProperty", "value": {"coordinates": [1, 2]}}}, "location.value"],
 [{"location": {"type": "GeoProperty", "value": {"type": "Point"}}}, "location.value"],
 [{"label": {"languageMap": {"en": 5}}}, "label.languageMap"],
 [{"t": {"value": 1, "datasetId": "x y"}}, "t.datasetId"],
 [{"scope": "no-slash"}, "scope"]
]""")


@pytest.fixture
def room_terms(resolver: c.ContextResolver) -> c.TermMap:
    return terms_for(resolver, USER)


def test_expand_entity_normalizes_to_expanded_internal_form(room_terms: c.TermMap) -> None:
    got = c.expand_entity(ROOM, room_terms)
    assert got["id"] == "urn:ngsi-ld:Room:1" and got["type"] == ["http://ex.org/Room"]
    temp = got["attrs"]["http://ex.org/temp"]
    assert temp["observedAt"] == "2024-01-01T08:00:00Z"  # UTC with Z
    assert temp[VOCAB + "accuracy"] == {"type": "Property", "value": 0.5}
    assert got["attrs"][VOCAB + "owner"] == {
        "type": "Relationship",
        "object": ROOM["owner"]["object"],
    }
    assert got["attrs"][NGSI + "location"]["type"] == "GeoProperty"
    assert got["attrs"][VOCAB + "label"]["type"] == "LanguageProperty"


def test_concise_and_normalized_forms_expand_alike(room_terms: c.TermMap) -> None:
    assert c.expand_entity(CONCISE_ROOM, room_terms) == c.expand_entity(ROOM, room_terms)


@pytest.mark.parametrize(("name", "value", "expected"), CONCISE_CASES)
def test_concise_rules(room_terms: c.TermMap, name: str, value: Any, expected: Any) -> None:
    got = c.expand_entity({"id": "urn:a", "type": "T", name: value}, room_terms)
    assert got["attrs"][room_terms.expand_term(name)] == expected


def test_system_members_from_clients_are_dropped(room_terms: c.TermMap) -> None:
    doc = {"id": "urn:a", "type": "T", "createdAt": "2020-01-01T00:00:00Z"}
    doc["speed"] = {"value": 1, "modifiedAt": doc["createdAt"]}
    want = {VOCAB + "speed": {"type": "Property", "value": 1}}
    assert c.expand_entity(doc, room_terms)["attrs"] == want


@pytest.mark.parametrize(("patch", "field"), INVALID_CASES)
def test_invalid_entities_name_the_field(room_terms: c.TermMap, patch: dict, field: str) -> None:
    doc = {k: v for k, v in {**ROOM, **patch}.items() if v is not None or k not in ("id", "type")}
    with pytest.raises(BadRequestData) as err:
        c.expand_entity(doc, room_terms)
    assert err.value.field == field


def test_compact_entity_representations(room_terms: c.TermMap) -> None:
    internal = c.expand_entity(ROOM, room_terms)
    want = copy.deepcopy(ROOM)
    want["temperature"]["observedAt"] = "2024-01-01T08:00:00Z"
    assert c.compact_entity(internal, room_terms) == want
    assert c.compact_entity(internal, room_terms, options={"concise"}) == CONCISE_ROOM
    assert c.compact_entity(internal, room_terms, options={"keyValues"}) == json.loads(
        """{"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": 21.5,
        "owner": "urn:ngsi-ld:Person:1", "label": {"en": "Kitchen", "zh": "厨房"},
        "location": {"type": "Point", "coordinates": [120.1, 30.2]}}"""
    )
    only = c.compact_entity(
        internal, room_terms, attrs={"http://ex.org/temp"}, context_for_body=[USER, CORE]
    )
    assert set(only) == {"id", "type", "temperature", "@context"}
    assert only["@context"] == [USER, CORE]


def test_sys_attrs_only_when_asked(room_terms: c.TermMap) -> None:
    internal = c.expand_entity(ROOM, room_terms)
    internal["createdAt"] = "2024-01-01T00:00:00Z"
    internal["attrs"]["http://ex.org/temp"]["modifiedAt"] = "2024-01-02T00:00:00Z"
    assert "createdAt" not in c.compact_entity(internal, room_terms)
    shown = c.compact_entity(internal, room_terms, options={"sysAttrs"})
    assert shown["createdAt"] == "2024-01-01T00:00:00Z"
    assert shown["temperature"]["modifiedAt"] == "2024-01-02T00:00:00Z"


def _reduce_pyld(node: dict[str, Any]) -> dict[str, Any]:
    """pyld's expanded attribute node -> {member IRI: scalar}, sub-attributes recursively."""
    out: dict[str, Any] = {"@type": node["@type"][0]}
    for key, values in node.items():
        if key == "@type":
            continue
        first = values[0]
        if key in (NGSI + "hasValue", NGSI + "observedAt", NGSI + "unitCode"):
            out[key] = first["@value"]
        elif key == NGSI + "hasObject":
            out[key] = first["@id"]
        else:
            out[key] = _reduce_pyld(first)
    return out


def _reduce_ours(attr: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"@type": NGSI + attr["type"]}
    for key, value in attr.items():
        if key in ("value", "object", "observedAt", "unitCode"):
            out[NGSI + {"value": "hasValue", "object": "hasObject"}.get(key, key)] = value
        elif key != "type":
            out[key] = _reduce_ours(value)
    return out


def inline_context_via_pyld(resolver: c.ContextResolver, doc: dict, ctx: dict) -> None:
    """Our expansion of ``doc`` under ``ctx`` equals pyld's ``jsonld.expand`` of it."""
    contexts = c.request_context(LD, None, {**doc, "@context": ctx})
    ours = c.expand_entity(doc, resolver.terms(contexts))
    [theirs] = jsonld.expand(
        {**doc, "@context": contexts}, {"documentLoader": resolver.document_loader()}
    )
    assert ours["id"] == theirs["@id"] and ours["type"] == theirs["@type"]
    attrs = {k: v for k, v in theirs.items() if not k.startswith("@")}
    assert {k: _reduce_ours(v) for k, v in ours["attrs"].items()} == {
        k: _reduce_pyld(v[0]) for k, v in attrs.items()
    }


def test_expansion_matches_pyld_for_sample_entities(resolver: c.ContextResolver) -> None:
    doc = {k: v for k, v in ROOM.items() if k not in ("location", "label")}
    doc["temperature"] = {**ROOM["temperature"], "observedAt": "2024-01-01T08:00:00Z"}
    inline_context_via_pyld(resolver, doc, USER)
    doc["ex:extra"] = {"type": "Property", "value": "x"}
    doc["http://o.example/p"] = {
        "type": "Property",
        "value": 1,
        "observedAt": "2024-01-01T00:00:00Z",
    }
    inline_context_via_pyld(resolver, doc, {**USER, "owner": "http://schema.org/owner"})


_CORE_TERMS = c.vendored_context("ngsi-ld-core-context-v1.8.jsonld")["@context"]
_RESERVED = {*c.CORE_MEMBERS, "id", "type", "scope"}
_NAMES = st.from_regex(r"[a-z][A-Za-z0-9]{0,10}", fullmatch=True).filter(
    lambda n: n not in _RESERVED and not isinstance(_CORE_TERMS.get(n), dict)
)
_VALUES = st.one_of(st.integers(), st.text(max_size=8))
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@settings(max_examples=40, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    names=st.dictionaries(_NAMES, _VALUES, min_size=1, max_size=6),
    mapped=st.sets(_NAMES, max_size=4),
    sub=_NAMES,
)
def test_expansion_matches_pyld_for_generated_names(
    resolver: c.ContextResolver, names: dict, mapped: set, sub: str
) -> None:
    ctx = {"ex": "http://ex.org/", **{n: f"http://ex.org/m/{n}" for n in mapped}}
    doc: dict[str, Any] = {"id": "urn:ngsi-ld:T:1", "type": "ex:T"}
    for name, value in names.items():
        doc[name] = {"type": "Property", "value": value, sub: {"type": "Property", "value": 1}}
    inline_context_via_pyld(resolver, doc, ctx)
    terms = terms_for(resolver, ctx)
    internal = c.expand_entity(doc, terms)
    assert c.compact_entity(internal, terms) == doc  # compaction inverts expansion
    concise = c.compact_entity(internal, terms, options={"concise"})
    assert c.expand_entity(concise, terms) == internal
