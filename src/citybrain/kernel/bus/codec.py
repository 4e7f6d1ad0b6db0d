"""The wire format shared by the NATS and MQTT buses: JSON body plus the event class's name.

Subscribers get the typed pydantic model back: the topic is looked up among the ``Event``
subclasses loaded in this process (and any registered with ``register_event``). A topic that no
class claims arrives as a ``RawEvent`` that keeps the payload as received. Modules are never
imported because a message names them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.events import Event

EVENT_HEADER = "CityBrain-Event"

_explicit: dict[str, type[Event]] = {}


class RawEvent(Event):
    """An event whose topic no class in this process claims; ``payload`` is kept as received."""

    event_topic: str
    event_type: str | None = None
    payload: dict[str, Any]

    @property
    def topic(self) -> str:  # type: ignore[override]
        """The topic it was published on."""
        return self.event_topic


class UndecodableEvent(ValueError):
    """A message whose body does not fit the class its topic names."""


def register_event(cls: type[Event]) -> type[Event]:
    """Claim ``cls.topic`` for ``cls`` (usable as a decorator); wins over subclass discovery."""
    _explicit[cls.topic] = cls
    return cls


def class_name(cls: type[Event]) -> str:
    """``module:QualName`` of an event class, as written in the header."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _walk(cls: type[Event]) -> list[type[Event]]:
    found: list[type[Event]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_walk(sub))
    return found


def event_class(topic: str) -> type[Event] | None:
    """The class that owns ``topic``, or None."""
    if topic in _explicit:
        return _explicit[topic]
    for cls in _walk(Event):
        if cls is not RawEvent and cls.__dict__.get("topic") == topic:
            return cls
    return None


def validate_topic(topic: str) -> list[str]:
    """Split a dotted topic into tokens; ``InvalidInput`` for wildcards, blanks, separators."""
    tokens = topic.split(".")
    for tok in tokens:
        if not tok or any(c in tok for c in "*>#+/ \t\r\n"):
            raise InvalidInput(f"invalid topic {topic!r}: bad token {tok!r}", field="topic")
    return tokens


def consumer_name(name: str) -> str:
    """A subscriber name made safe for JetStream consumer names and MQTT client ids."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:200]


def encode(event: Event) -> tuple[bytes, str]:
    """The JSON body of ``event`` and the class name for the header."""
    if isinstance(event, RawEvent):
        body = {"id": event.id, "ts": event.ts.isoformat(), **event.payload}
        return json.dumps(body, ensure_ascii=False).encode(), event.event_type or ""
    return event.model_dump_json().encode(), class_name(type(event))


def decode(topic: str, data: bytes, type_name: str | None) -> Event:
    """Rebuild the typed event; raise ``UndecodableEvent`` when the body does not fit."""
    cls = event_class(topic)
    try:
        if cls is not None:
            return cls.model_validate_json(data)
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise ValueError("event body is not a JSON object")
    except ValueError as exc:  # pydantic ValidationError and JSONDecodeError are ValueErrors
        raise UndecodableEvent(f"cannot decode {topic!r} as {type_name or 'event'}: {exc}") from exc
    extra = {k: payload[k] for k in ("id", "ts") if k in payload}
    return RawEvent(event_topic=topic, event_type=type_name or None, payload=payload, **extra)
