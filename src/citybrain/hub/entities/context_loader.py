"""Loading NGSI-LD @contexts safely and processing them with pyld into fast term maps.

The ETSI core contexts (and the W3C data-integrity context that core v1.9 includes) are
vendored files in ``contexts/`` and never fetched. User contexts are fetched only from
allow-listed hosts (httpx, no redirects, size- and time-bounded, JSON only) and cached (LRU +
TTL). A request's context list is processed by pyld once, cached by its JSON, and becomes a
:class:`TermMap` whose per-entity look-ups are dictionary hits. pyld's document loader is passed
per call (``{"documentLoader": ...}``), never set globally, and no pyld-global cache is used.
:mod:`citybrain.hub.entities.context` re-exports this module's public names.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from pyld import jsonld
from pyld.context_resolver import ContextResolver as _PyldResolver

from citybrain.hub.entities.problems import BadRequestData, LdContextNotAvailable, NgsiError

ETSI_V1 = "https://uri.etsi.org/ngsi-ld/v1/"
CORE_CONTEXT_URL = ETSI_V1 + "ngsi-ld-core-context-v1.8.jsonld"
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = NGSI_LD + "default-context/"
LOCATION = NGSI_LD + "location"  # the GeoProperty whose bounding box entities index


def short_name(iri: str) -> str:
    """An expanded attribute's short name (what a Table Schema field is called): the part
    after the default vocabulary, else after the last ``/`` or ``#``."""
    if iri.startswith(DEFAULT_VOCAB):
        return iri[len(DEFAULT_VOCAB) :]
    return iri.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


_CORE_FILES = [f"ngsi-ld-core-context{v}.jsonld" for v in ("-v1.6", "-v1.8", "-v1.9", "")]
#: Context URL -> vendored file name: the core contexts (https and http) and what they include.
VENDORED_CONTEXTS: dict[str, str] = {
    **{ETSI_V1 + name: name for name in _CORE_FILES},
    **{ETSI_V1.replace("https:", "http:") + name: name for name in _CORE_FILES},
    "https://w3id.org/security/data-integrity/v2": "w3id-security-data-integrity-v2.jsonld",
}
CORE_CONTEXT_URLS = frozenset(u for u in VENDORED_CONTEXTS if "/ngsi-ld-core-context" in u)
MAX_REMOTE_CONTEXTS = 10
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")
_MEMO_MAX = 50_000
_PROC = jsonld.JsonLdProcessor()


def bad(field: str, message: str) -> BadRequestData:
    """BadRequestData whose message starts with the field it names."""
    return BadRequestData(f"{field}: {message}", field=field)


@cache
def vendored_context(name: str) -> dict[str, Any]:
    """The parsed vendored context file ``name`` (from ``contexts/``); treat it as read-only."""
    text = files("citybrain.hub.entities").joinpath("contexts", name).read_text("utf-8")
    return json.loads(text)


class _TtlLru:
    """A thread-safe LRU map whose entries may expire."""

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[str, tuple[float | None, Any]] = OrderedDict()
        self._size, self._lock = size, threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] is not None and item[0] < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def put(self, key: str, value: Any, ttl: float | None) -> None:
        if ttl is not None and ttl <= 0:
            return
        with self._lock:
            self._data[key] = (None if ttl is None else time.monotonic() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


class TermMap:
    """A request's processed active context as fast term <-> IRI look-ups."""

    def __init__(self, active: Mapping[str, Any], core_url: str) -> None:
        self.core_url = core_url
        self.vocab: str | None = active.get("@vocab")
        self._active = active
        mappings = active["mappings"]
        self._expand: dict[str, str] = {
            t: m["@id"]
            for t, m in mappings.items()
            if m and isinstance(m.get("@id"), str) and not m.get("reverse")
        }
        self._compact: dict[str, str] = {}
        for term, iri in sorted(self._expand.items(), key=lambda kv: (-len(kv[0]), kv[0])):
            if not iri.startswith("@"):
                self._compact[iri] = term  # shorter terms come later and win
        self._prefixes = [
            (m["@id"], t)
            for t, m in mappings.items()
            if m and m.get("_prefix") and isinstance(m.get("@id"), str)
        ]
        self._memo_expand: dict[str, str | None] = {}
        self._memo_compact: dict[str, str] = {}

    def expand_term(self, name: str) -> str | None:
        """The IRI of an attribute name: term, compact IRI, absolute IRI or @vocab-relative.

        None when the context maps the name to null.
        """
        iri = self._expand.get(name)
        if iri is not None:
            return iri
        if name in self._memo_expand:
            return self._memo_expand[name]
        iri = _PROC._expand_iri(self._active, name, vocab=True)
        if len(self._memo_expand) < _MEMO_MAX:
            self._memo_expand[name] = iri
        return iri

    expand_type = expand_term

    def compact_term(self, iri: str) -> str:
        """The shortest term for an IRI, else its @vocab-relative name, else a compact IRI."""
        term = self._compact.get(iri) or self._memo_compact.get(iri)
        if term is not None:
            return term
        term = iri
        vocab = self.vocab
        if vocab and iri.startswith(vocab) and self.expand_term(iri[len(vocab) :]) == iri:
            term = iri[len(vocab) :]
        else:
            for prefix_iri, prefix in self._prefixes:
                if iri.startswith(prefix_iri) and len(iri) > len(prefix_iri):
                    candidate = f"{prefix}:{iri[len(prefix_iri) :]}"
                    if len(candidate) < len(term) and self.expand_term(candidate) == iri:
                        term = candidate
        if len(self._memo_compact) < _MEMO_MAX:
            self._memo_compact[iri] = term
        return term

    compact_type = compact_term


def with_core(contexts: Iterable[Any]) -> list[Any]:
    """Validate a user context list; the core context goes last (once)."""
    user, core = [], None
    for ctx in contexts:
        if isinstance(ctx, str) and ctx in CORE_CONTEXT_URLS:
            core = ctx
        elif (
            ctx is None or isinstance(ctx, Mapping) or (isinstance(ctx, str) and URI.fullmatch(ctx))
        ):
            user.append(ctx)
        else:
            raise bad("@context", f"not a context URL or object: {str(ctx)[:80]!r}")
    return [*user, core or CORE_CONTEXT_URL]


class ContextResolver:
    """Loads @contexts (vendored core, allow-listed remote) and turns context lists into TermMaps.

    ``hosts``: host names user contexts may come from; ``"*"`` allows any host whose every
    address is public (not loopback/private/link-local/reserved). A host listed by name is
    allowed whatever its address (so ``127.0.0.1`` works in tests). ``transport`` replaces
    httpx's network transport (tests). Thread-safe.
    """

    def __init__(
        self,
        hosts: Sequence[str] = (),
        max_bytes: int = 256 * 1024,
        timeout_s: float = 3.0,
        cache_s: float = 3600.0,
        *,
        max_remote: int = MAX_REMOTE_CONTEXTS,
        cache_size: int = 256,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.hosts = frozenset(h.strip().lower() for h in hosts if h.strip())
        self.max_bytes, self.timeout_s, self.cache_s = max_bytes, timeout_s, cache_s
        self.max_remote, self._transport = max_remote, transport
        self._docs, self._terms = _TtlLru(cache_size), _TtlLru(cache_size)
        self._guard, self._building = threading.Lock(), dict[str, threading.Lock]()

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> ContextResolver:
        """Build from :class:`citybrain.kernel.config.Settings` (``ngsi_context_*``)."""
        return cls(
            settings.ngsi_context_hosts,
            settings.ngsi_context_max_bytes,
            settings.ngsi_context_timeout_s,
            settings.ngsi_context_cache_s,
            **kwargs,
        )

    def document(self, url: str) -> dict[str, Any]:
        """The JSON document at ``url``: vendored, cached or fetched. Do not mutate it.

        Raises LdContextNotAvailable naming the URL and the reason.
        """
        if url in VENDORED_CONTEXTS:
            return vendored_context(VENDORED_CONTEXTS[url])
        doc = self._docs.get(url)
        if doc is None:
            self._check_host(url)
            doc = self._fetch(url)
            self._docs.put(url, doc, self.cache_s)
        return doc

    def _refuse(self, url: str, reason: str) -> LdContextNotAvailable:
        return LdContextNotAvailable(f"@context {url} is not available: {reason}", url=url)

    def _check_host(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self._refuse(url, "only http(s) URLs are fetched")
        host = parts.hostname.lower()
        if host in self.hosts or f"{host}:{parts.port}" in self.hosts:
            return
        if "*" not in self.hosts:
            raise self._refuse(url, f"host {host} is not allowed")
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise self._refuse(url, f"host {host} does not resolve") from None
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            mapped = getattr(ip, "ipv4_mapped", None)
            if not (mapped or ip).is_global or ip.is_multicast:
                raise self._refuse(url, f"host {host} resolves to non-public address {ip}")

    def _fetch(self, url: str) -> dict[str, Any]:
        deadline, body = time.monotonic() + self.timeout_s, bytearray()
        accept = {"Accept": "application/ld+json, application/json;q=0.9"}
        client = httpx.Client(
            transport=self._transport,
            follow_redirects=False,
            timeout=self.timeout_s,
            trust_env=False,
        )
        try:
            with client, client.stream("GET", url, headers=accept) as resp:
                if resp.status_code != 200:
                    redirect = " (redirects are not followed)" if resp.is_redirect else ""
                    raise self._refuse(url, f"HTTP status {resp.status_code}{redirect}")
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype not in ("application/json", "application/ld+json"):
                    raise self._refuse(url, f"not JSON (Content-Type {ctype or 'missing'})")
                size = resp.headers.get("content-length", "")
                too_large = self._refuse(url, f"too large (over {self.max_bytes} bytes)")
                if size.isdigit() and int(size) > self.max_bytes:
                    raise too_large
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise too_large
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("deadline")
        except httpx.TimeoutException:
            raise self._refuse(url, f"timed out after {self.timeout_s} s") from None
        except httpx.HTTPError as exc:
            raise self._refuse(url, f"fetch failed ({type(exc).__name__})") from None
        try:
            doc = json.loads(bytes(body))
        except ValueError:
            raise self._refuse(url, "not valid JSON") from None
        if not isinstance(doc, dict):
            raise self._refuse(url, "not a JSON object")
        return doc

    def document_loader(self, remote: set[str] | None = None) -> Callable[..., dict[str, Any]]:
        """A pyld documentLoader for one request (pass as ``{"documentLoader": ...}``).

        It serves vendored contexts, refuses more than ``max_remote`` distinct remote ones
        (collected in ``remote``) and hands pyld a copy (pyld rewrites relative URLs in place).
        """
        remote = set() if remote is None else remote
        docs: dict[str, dict[str, Any]] = {}  # each URL is fetched at most once per request

        def load(url: str, options: Any = None) -> dict[str, Any]:
            if url not in VENDORED_CONTEXTS:
                remote.add(url)
                if len(remote) > self.max_remote:
                    raise self._refuse(url, f"more than {self.max_remote} remote @contexts")
            doc = docs[url] = docs.get(url) or self.document(url)
            return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(doc)}

        return load

    def _nested_core(self, contexts: Iterable[Any], load: Callable, seen: set[str]) -> str | None:
        """The last core context URL that remote user contexts include, if any."""
        found = None
        for ctx in contexts:
            if not isinstance(ctx, str) or ctx in seen:
                continue
            if ctx in CORE_CONTEXT_URLS:
                found = ctx
                continue
            seen.add(ctx)
            inner = load(ctx).get("document", {}).get("@context")
            inner = inner if isinstance(inner, list) else [inner]
            urls = [urljoin(ctx, c) if isinstance(c, str) else c for c in inner]
            found = self._nested_core(urls, load, seen) or found
        return found

    def terms(self, contexts: Sequence[Any]) -> TermMap:
        """The TermMap of a context list (as from :func:`request_context`), processed by pyld.

        Raises LdContextNotAvailable (a context cannot be loaded) or BadRequestData (invalid).
        """
        key = json.dumps(contexts, sort_keys=True, separators=(",", ":"))
        cached = self._terms.get(key)
        if cached is not None:
            return cached
        with self._guard:  # one thread per context list loads and processes it
            lock = self._building.setdefault(key, threading.Lock())
        try:
            with lock:
                return self._terms.get(key) or self._build(key, contexts)
        finally:
            with self._guard:
                self._building.pop(key, None)

    def _build(self, key: str, contexts: Sequence[Any]) -> TermMap:
        remote: set[str] = set()
        load = self.document_loader(remote)
        try:
            listed = with_core(contexts)
            user, core = listed[:-1], listed[-1]
            core = self._nested_core(user, load, set()) or core
            options = {"documentLoader": load, "contextResolver": _PyldResolver({}, load)}
            active = _PROC.process_context(_PROC._get_initial_context({}), [*user, core], options)
        except NgsiError:
            raise
        except Exception as exc:
            raise _context_error(exc) from None
        terms = TermMap(active, core)
        self._terms.put(key, terms, self.cache_s if remote else None)
        return terms


def _context_error(exc: BaseException) -> NgsiError:
    """The NGSI-LD error behind a (pyld-wrapped) exception."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, NgsiError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or getattr(cause, "cause", None)
    code = getattr(exc, "code", None) or type(exc).__name__
    message = exc.args[0] if exc.args else ""
    return bad("@context", f"invalid @context ({code}): {message}")
