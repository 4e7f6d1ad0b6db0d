"""Event bus implementations behind the kernel's ``EventBus`` protocol, chosen by URL.

``make_bus(None)`` is the in-process bus (the embedded default); ``nats://host:port`` is NATS
JetStream (``NatsJetStreamBus``); ``mqtt://host:port`` is an MQTT v5 broker (``MqttBus``). Both
brokered buses deliver at least once: subscribers must be idempotent.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from citybrain.kernel.bus.codec import RawEvent, event_class, register_event
from citybrain.kernel.bus.errors import BusError, BusTimeout, BusUnavailable
from citybrain.kernel.errors import ConfigError
from citybrain.kernel.events import EventBus, InProcessBus

__all__ = [
    "BusError",
    "BusTimeout",
    "BusUnavailable",
    "RawEvent",
    "event_class",
    "make_bus",
    "register_event",
]


def make_bus(url: str | None) -> EventBus:
    """The bus named by ``url``: None or ``memory://`` in process, ``nats://``, ``mqtt://``.

    Query options: ``nats://host:4222?stream=NAME&prefix=SUBJECT_PREFIX`` (defaults
    ``CITYBRAIN_EVENTS`` and ``citybrain``), ``mqtt://host:1883?prefix=TOPIC_PREFIX``.
    """
    if not url or url == "memory://":
        return InProcessBus()
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "nats":
        from citybrain.kernel.bus.nats import NatsJetStreamBus

        server = f"nats://{parts.netloc or '127.0.0.1:4222'}"
        return NatsJetStreamBus(
            server,
            stream=query.get("stream", "CITYBRAIN_EVENTS"),
            subject_prefix=query.get("prefix", "citybrain"),
        )
    if parts.scheme == "mqtt":
        from citybrain.kernel.bus.mqtt import MqttBus

        return MqttBus(
            parts.hostname or "127.0.0.1",
            parts.port or 1883,
            prefix=query.get("prefix", "citybrain"),
        )
    raise ConfigError(
        f"unknown event bus URL {url!r}: use nats://host:port or mqtt://host:port", field="bus_url"
    )
