"""Typed events and the bus they travel on.

Events are pydantic models. The in-process bus is the embedded default; NATS JetStream and MQTT
implement the same ``EventBus`` protocol in production.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar, Protocol

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)


class Event(BaseModel):
    """Base of every event: an id, a time and a topic derived from the class."""

    topic: ClassVar[str] = "event"
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    ts: datetime = Field(default_factory=lambda: datetime.now(UTC))


class GovernedActionRecorded(Event):
    """A gate decision was ledgered (allow after commit, deny at once)."""

    topic: ClassVar[str] = "kernel.ledger.recorded"
    actor: str
    organisation: str
    action: str
    resource: str
    decision: str
    policy_ids: list[str]
    request_id: str


class OrganisationCreated(Event):
    """A new organisation joined the city's directory."""

    topic: ClassVar[str] = "kernel.identity.organisation_created"
    code: str
    name: str
    kind: str
    parent_code: str | None = None


Handler = Callable[[Event], None]


class Subscription(Protocol):
    """Handle returned by ``subscribe``; ``close`` stops delivery."""

    def close(self) -> None:
        """Stop receiving events."""


class EventBus(Protocol):
    """What every bus implementation offers."""

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber of its topic (and of its topic prefixes)."""

    def subscribe(self, topic: str, handler: Handler, *, name: str | None = None) -> Subscription:
        """Call ``handler`` for each event whose topic equals or starts with ``topic + '.'``;
        ``'*'`` subscribes to everything. A ``name`` makes the subscription durable on buses
        that persist (processes sharing a name share the work)."""


class _InProcessSubscription:
    def __init__(self, bus: InProcessBus, topic: str, handler: Handler) -> None:
        self._bus, self._topic, self._handler = bus, topic, handler

    def close(self) -> None:
        self._bus._remove(self._topic, self._handler)


class InProcessBus:
    """Synchronous in-process bus. A failing handler is logged and does not stop the others."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        """Deliver to subscribers of the exact topic, its prefixes and ``*``."""
        parts = event.topic.split(".")
        keys = ["*"] + [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        with self._lock:
            handlers = [h for k in keys for h in self._handlers.get(k, ())]
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler failed for %s", event.topic)

    def subscribe(
        self, topic: str, handler: Handler, *, name: str | None = None
    ) -> _InProcessSubscription:
        """Register ``handler`` for ``topic`` (exact, prefix or ``*``); ``name`` is ignored."""
        with self._lock:
            self._handlers[topic].append(handler)
        return _InProcessSubscription(self, topic, handler)

    def _remove(self, topic: str, handler: Handler) -> None:
        with self._lock:
            if handler in self._handlers.get(topic, []):
                self._handlers[topic].remove(handler)
