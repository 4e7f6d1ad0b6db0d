"""The subscription notifier: matches committed entity writes against NGSI-LD subscriptions
and delivers notifications over HTTP (POST) and MQTT (ETSI GS CIM 009 MQTT binding).

``Notifier.changed`` only queues; a worker thread matches and throttles; a small pool
delivers, one notification in flight per subscription. Each notification is one ledger entry
(``entity.notify`` by the subscription's owner, under the policies that let the owner read the
tenant, checked again before each delivery), committed before the notification leaves.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, unquote

import httpx
from paho.mqtt.client import MQTT_ERR_SUCCESS
from sqlalchemy import select, update

from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import service
from citybrain.hub.entities.models import NgsiEntity, NgsiSubscription
from citybrain.hub.entities.problems import NgsiError
from citybrain.hub.entities.subscriptions import (
    JSON_LD,
    SCHEMES,
    check_endpoint,
    entity_matches,
    info_value,
    status_of,
)
from citybrain.hub.entities.visibility import hidden_datasets
from citybrain.kernel.bus.mqtt import connect_and_wait, make_client
from citybrain.kernel.errors import CityBrainError
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity.service import caller_for, get_user
from citybrain.kernel.runtime import Runtime

log = logging.getLogger(__name__)
NOTIFY_ACTION = "entity.notify"


@dataclass
class _Sub:
    tenant: str
    sub_id: str
    doc: dict[str, Any]
    owner: str
    organisation: str
    terms: Any
    last_sent: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant, self.sub_id)


@dataclass
class _Held:
    due: datetime
    ids: set[str] = field(default_factory=set)


class _Mqtt:
    """One paho client per broker, connected once and replaced when a publish fails."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def publish(self, parts: SplitResult, payload: bytes, qos: int) -> str | None:
        key = (parts.scheme, parts.hostname, parts.port, parts.username)
        try:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client, props = make_client(
                        f"citybrain-notify-{uuid.uuid4().hex[:12]}", persistent=False
                    )
                    if parts.username:
                        client.username_pw_set(
                            unquote(parts.username), unquote(parts.password or "") or None
                        )
                    if parts.scheme == "mqtts":
                        client.tls_set()
                    connect_and_wait(
                        client,
                        parts.hostname or "",
                        parts.port or SCHEMES[parts.scheme],
                        props,
                        clean_start=True,
                        timeout=self.timeout_s,
                    )
                    self._clients[key] = client
            info = client.publish(unquote(parts.path.lstrip("/")), payload, qos=qos)
            if qos:
                info.wait_for_publish(self.timeout_s)
            if info.rc == MQTT_ERR_SUCCESS and (not qos or info.is_published()):
                return None
            error = f"MQTT publish failed (rc {info.rc})"
        except (CityBrainError, OSError, RuntimeError, ValueError) as exc:
            error = f"MQTT: {exc}"
        self._drop(key)
        return error

    def _drop(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            client = self._clients.pop(key, None)
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def close(self) -> None:
        for key in list(self._clients):
            self._drop(key)


class Notifier:
    """Matches committed writes against subscriptions and delivers notifications.

    ``changed`` only queues (merging ids per tenant; beyond ``max_queue`` ids a tenant is
    rescanned for rows modified since, counted in ``stats["dropped"]``). A worker thread
    matches and schedules; a small pool delivers, one notification in flight per subscription.
    Each delivery is one ledger entry (``entity.notify`` by the subscription's owner, under
    the policy that lets the owner read the tenant, checked again before each delivery).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_queue: int = 10_000,
        resolver: Any = None,
        timeout_s: float = 5.0,
        workers: int = 4,
        cache_s: float = 30.0,
    ) -> None:
        self.runtime, self.max_queue, self.cache_s = runtime, max_queue, cache_s
        self.resolver = resolver or ldctx.ContextResolver.from_settings(runtime.settings)
        self.timeout_s, self.workers = timeout_s, workers
        self.stats = {"queued": 0, "dropped": 0, "sent": 0, "failed": 0}
        self._cond = threading.Condition()
        self._pending: dict[str, dict[str, set[str] | None]] = {}
        self._since: dict[str, datetime] = {}
        self._size, self._stop, self._generation, self._working = 0, False, 0, False
        self._subs: dict[str, tuple[float, list[_Sub]]] = {}
        self._held: dict[tuple[str, str], _Held] = {}
        self._last: dict[tuple[str, str], datetime] = {}
        self._busy: set[tuple[str, str]] = set()
        self._permits: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._hidden_cache: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None
        self._mqtt = _Mqtt(timeout_s)

    def start(self) -> None:
        """Start the worker thread and the delivery pool (idempotent)."""
        if self._thread is not None:
            return
        self._stop = False
        self._http = httpx.Client(timeout=self.timeout_s, follow_redirects=False, trust_env=False)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ngsi-notify")
        self._thread = threading.Thread(target=self._run, name="ngsi-notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Match what is queued, finish deliveries in flight, close connections."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._http is not None:
            self._http.close()
        self._mqtt.close()
        self._thread = self._pool = self._http = None

    def changed(self, tenant: str, entity_ids: list[str], attrs_written: set[str] | None) -> None:
        """Queue a committed write: entity ids and the attribute IRIs set (None: unknown)."""
        with self._cond:
            bucket = self._pending.setdefault(tenant, {})
            for eid in entity_ids:
                if eid in bucket:
                    old = bucket[eid]
                    bucket[eid] = (
                        None if old is None or attrs_written is None else (old | set(attrs_written))
                    )
                elif self._size < self.max_queue:
                    bucket[eid] = None if attrs_written is None else set(attrs_written)
                    self._size += 1
                else:  # rescan the tenant's recent writes instead of growing
                    since = self.runtime.clock() - timedelta(seconds=60)
                    self._since[tenant] = min(self._since.get(tenant, since), since)
                    self.stats["dropped"] += 1
            self.stats["queued"] += len(entity_ids)
            self._cond.notify()

    def invalidate(self, tenant: str | None = None) -> None:
        """Forget cached subscriptions (of one tenant, or all) after they change."""
        with self._cond:
            self._generation += 1
            if tenant is None:
                self._subs.clear()
            else:
                self._subs.pop(tenant, None)

    def idle(self) -> bool:
        """True when nothing is queued, held back by throttling or being delivered."""
        with self._cond:
            return not (self._pending or self._since or self._held or self._busy or self._working)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._stop or self._pending or self._since or self._ready()):
                    self._cond.wait(self._wait_s())
                stop, pending, since = self._stop, self._pending, self._since
                self._pending, self._since, self._size = {}, {}, 0
                self._working = True
            try:
                self._release(self._match(pending, since))
            except Exception:
                log.exception("notifier cycle failed")
            with self._cond:
                self._working = False
            if stop:
                return

    def _ready(self) -> bool:
        now = self.runtime.clock()
        return any(h.due <= now and k not in self._busy for k, h in self._held.items())

    def _wait_s(self) -> float:
        now = self.runtime.clock()
        waits = [
            (h.due - now).total_seconds() for k, h in self._held.items() if k not in self._busy
        ]
        return min(max(min(waits), 0.01), 0.5) if waits else 1.0  # a finished delivery notifies

    def _subscriptions(self, tenant: str) -> list[_Sub]:
        with self._cond:
            hit, generation = self._subs.get(tenant), self._generation
        if hit and time.monotonic() - hit[0] < self.cache_s:
            return hit[1]
        with self.runtime.reader() as session:
            rows = session.scalars(
                select(NgsiSubscription).where(
                    NgsiSubscription.tenant == tenant, NgsiSubscription.active.is_(True)
                )
            ).all()
            subs = []
            for r in rows:
                try:
                    terms = self.resolver.terms(r.doc.get("@context") or [])
                except NgsiError as exc:
                    self._record(tenant, r.sub_id, f"@context: {exc.detail}")
                    continue
                subs.append(
                    _Sub(
                        tenant, r.sub_id, r.doc, r.owner, r.organisation, terms, r.last_notification
                    )
                )
        with self._cond:
            if generation == self._generation:
                self._subs[tenant] = (time.monotonic(), subs)
        return subs

    def _load(self, tenant: str, ids: Iterable[str], since: datetime | None) -> dict[str, Any]:
        cols = select(
            NgsiEntity.id,
            NgsiEntity.entity_id,
            NgsiEntity.entity_type,
            NgsiEntity.attrs,
            NgsiEntity.scope,
            NgsiEntity.dataset,
        ).where(NgsiEntity.tenant == tenant)
        found: dict[str, Any] = {}
        wanted = list(ids)
        with self.runtime.reader() as session:
            for start in range(0, len(wanted), 900):
                stmt = cols.where(NgsiEntity.entity_id.in_(wanted[start : start + 900]))
                found.update({r.entity_id: r for r in session.execute(stmt)})
            after = 0
            while since is not None:
                page = session.execute(
                    cols.where(NgsiEntity.modified_at >= since, NgsiEntity.id > after)
                    .order_by(NgsiEntity.id)
                    .limit(1000)
                ).all()
                found.update({r.entity_id: r for r in page})
                if len(page) < 1000:
                    break
                after = page[-1].id
        return found

    def _match(
        self, pending: dict[str, dict[str, set[str] | None]], since: dict[str, datetime]
    ) -> dict[tuple[str, str], Any]:
        cache: dict[tuple[str, str], Any] = {}
        for tenant in set(pending) | set(since):
            subs = self._subscriptions(tenant)
            if not subs:
                continue
            changes = pending.get(tenant, {})
            rows = self._load(tenant, changes, since.get(tenant))
            cache.update({(tenant, eid): row for eid, row in rows.items()})
            now = self.runtime.clock()
            for sub in subs:
                if status_of(sub.doc, now) == "expired":
                    continue
                hits = [
                    eid
                    for eid, row in rows.items()
                    if entity_matches(sub.doc, row, sub.terms.expand_term, changes.get(eid))
                ]
                if hits:
                    self._hold(sub, hits, now)
        return cache

    def _hold(self, sub: _Sub, ids: list[str], now: datetime) -> None:
        held = self._held.get(sub.key)
        if held is None:
            last = self._last.get(sub.key, sub.last_sent)
            pause = float(sub.doc.get("throttling") or 0)
            due = max(now, last + timedelta(seconds=pause)) if pause and last else now
            held = self._held[sub.key] = _Held(due)
        held.ids.update(ids)

    def _release(self, cache: dict[tuple[str, str], Any]) -> None:
        now = self.runtime.clock()
        with self._cond:
            ready = [(k, h) for k, h in self._held.items() if h.due <= now and k not in self._busy]
        missing: dict[str, set[str]] = {}
        for (tenant, _), held in ready:
            missing.setdefault(tenant, set()).update(
                e for e in held.ids if (tenant, e) not in cache
            )
        for tenant, ids in missing.items():
            if ids:
                cache.update({(tenant, e): r for e, r in self._load(tenant, ids, None).items()})
        for key, held in ready:
            del self._held[key]
            sub = next((s for s in self._subscriptions(key[0]) if s.sub_id == key[1]), None)
            if sub is None or status_of(sub.doc, now) == "expired":
                continue
            rows = [cache[(key[0], e)] for e in sorted(held.ids) if (key[0], e) in cache]
            rows = [
                r for r in rows if entity_matches(sub.doc, r, sub.terms.expand_term, watched=False)
            ]
            if rows and self._pool is not None:
                self._last[key] = now
                with self._cond:
                    self._busy.add(key)
                self._pool.submit(self._deliver, sub, rows)

    def _permit(self, sub: _Sub) -> str | None:
        """The policies letting the owner read the tenant now (cached 10 s), None if denied."""
        hit = self._permits.get((sub.owner, sub.tenant))
        if hit and time.monotonic() - hit[0] < 10:
            return hit[1]
        org = sub.tenant or self.runtime.settings.city_code
        store = Resource("EntityStore", sub.tenant or "city", org)
        try:
            with self.runtime.reader() as session:
                caller = caller_for(get_user(session, sub.owner))
                decision = self.runtime.gate.decide(
                    session, caller, "entity.read", store, {"shared": sub.tenant == ""}
                )
            policy = ",".join(decision.policy_ids) if decision.allowed else None
        except CityBrainError:
            policy = None
        self._permits[(sub.owner, sub.tenant)] = (time.monotonic(), policy)
        return policy

    def _hidden(self, sub: _Sub) -> tuple[str, ...]:
        """Datasets the owner may not see in the shared store (cached 10 s)."""
        if sub.tenant:
            return ()
        hit = self._hidden_cache.get(sub.owner)
        if hit and time.monotonic() - hit[0] < 10:
            return hit[1]
        with self.runtime.reader() as session:
            hidden = hidden_datasets(session, caller_for(get_user(session, sub.owner)))
        self._hidden_cache[sub.owner] = (time.monotonic(), hidden)
        return hidden

    def notification(self, sub: _Sub, rows: list[Any]) -> dict[str, Any]:
        """The Notification of ``rows`` in the subscription's format, attributes and terms."""
        note = sub.doc["notification"]
        opts = {note["format"]} - {"normalized"}
        wanted = set(note["attributes"]) if note.get("attributes") else None
        data = [
            ldctx.compact_entity(
                {"id": r.entity_id, "type": [r.entity_type], "attrs": r.attrs, "scope": r.scope},
                sub.terms,
                options=opts,
                attrs=wanted,
            )
            for r in rows
        ]
        return {
            "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
            "type": "Notification",
            "subscriptionId": sub.sub_id,
            "notifiedAt": service.iso(self.runtime.clock()),
            "data": data,
        }

    def _deliver(self, sub: _Sub, rows: list[Any]) -> None:
        try:
            endpoint = sub.doc["notification"]["endpoint"]
            parts = check_endpoint(endpoint["uri"], self.runtime.settings.ngsi_notify_hosts)
            policy = self._permit(sub)
            if policy is None:
                self._record(sub.tenant, sub.sub_id, "the owner may no longer read this tenant")
                return
            rows = [r for r in rows if r.dataset not in self._hidden(sub)]
            if not rows:  # nothing the owner may see (restricted datasets without a grant)
                return
            body = self.notification(sub, rows)
            self._ledger(sub, body, policy, parts)
            self._record(sub.tenant, sub.sub_id, self._send(parts, endpoint, sub.doc, body))
        except CityBrainError as exc:
            self._record(sub.tenant, sub.sub_id, exc.detail)
        except Exception as exc:
            log.exception("notification of %s failed", sub.sub_id)
            self._record(sub.tenant, sub.sub_id, repr(exc))
        finally:
            with self._cond:
                self._busy.discard(sub.key)
                self._cond.notify()

    def _ledger(self, sub: _Sub, body: dict[str, Any], policy: str, parts: SplitResult) -> None:
        """One entry per notification, committed before it leaves, counting it as sent."""
        purpose = f"notify {len(body['data'])} entities to {parts.scheme}://{parts.hostname}"
        with self.runtime.gate.system(
            sub.owner,
            sub.organisation,
            NOTIFY_ACTION,
            Resource("Subscription", sub.sub_id, sub.organisation),
            request_id=body["id"],
            purpose=purpose[:400],
            policy=policy[:200],
        ) as session:
            session.execute(
                update(NgsiSubscription)
                .where(NgsiSubscription.tenant == sub.tenant, NgsiSubscription.sub_id == sub.sub_id)
                .values(
                    times_sent=NgsiSubscription.times_sent + 1,
                    last_notification=self.runtime.clock(),
                )
            )

    def _send(
        self,
        parts: SplitResult,
        endpoint: Mapping[str, Any],
        doc: Mapping[str, Any],
        body: dict[str, Any],
    ) -> str | None:
        """Deliver; the failure reason, or None on success."""
        ctx = doc.get("@context") or [ldctx.CORE_CONTEXT_URL]
        link = None
        if endpoint["accept"] == JSON_LD:
            body = {**body, "@context": ctx if len(ctx) > 1 else ctx[0]}
        else:
            link = ldctx.link_header_for(ctx)
        if parts.scheme.startswith("mqtt"):
            meta = {"Content-Type": endpoint["accept"], **({"Link": link} if link else {})}
            payload = json.dumps({"metadata": meta, "body": body}, ensure_ascii=False).encode()
            qos = int(info_value(endpoint, "MQTT-QoS", "qos") or 1)
            return self._mqtt.publish(parts, payload, qos)
        headers = {p["key"]: p["value"] for p in endpoint.get("receiverInfo", [])}
        headers["Content-Type"] = endpoint["accept"]
        if link:
            headers["Link"] = link
        assert self._http is not None
        try:
            response = self._http.post(
                endpoint["uri"],
                headers=headers,
                content=json.dumps(body, ensure_ascii=False).encode(),
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"

    def _record(self, tenant: str, sub_id: str, error: str | None) -> None:
        """The delivery's outcome on the subscription row, in its own short transaction."""
        now = self.runtime.clock()
        values: dict[str, Any] = {"last_success": now}
        if error is not None:
            values = {
                "times_failed": NgsiSubscription.times_failed + 1,
                "last_failure": now,
                "last_failure_reason": error[:500],
            }
        with self.runtime.factory.begin() as session:
            session.execute(
                update(NgsiSubscription)
                .where(NgsiSubscription.tenant == tenant, NgsiSubscription.sub_id == sub_id)
                .values(**values)
            )
        with self._cond:
            self.stats["sent" if error is None else "failed"] += 1
