"""The event bus on an MQTT broker (MQTT v5, QoS 1), for synchronous callers.

An event of topic ``a.b.c`` travels on ``citybrain/a/b/c`` with the same JSON body as on NATS;
the event class and id ride as MQTT v5 user properties. A subscription is its own MQTT session:
with a ``name`` it is persistent (client id ``citybrain-<name>``, clean start off, session kept
for ``session_expiry_s``), so events published while it is away are delivered when it returns,
up to the broker's ``max_queued_messages``. Messages are acknowledged (manual PUBACK) only after
the handler returns; a handler that keeps failing is retried ``max_attempts`` times, then the
event goes to ``citybrain_dlq/<client id>/<topic>`` with the reason and is acknowledged.

Delivery is at least once: a message is delivered again after a reconnect if its PUBACK was
not sent, so handlers must be idempotent (key their effects on ``event.id``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from citybrain.kernel.bus.codec import (
    EVENT_HEADER,
    UndecodableEvent,
    consumer_name,
    decode,
    encode,
    validate_topic,
)
from citybrain.kernel.bus.errors import BusTimeout, BusUnavailable
from citybrain.kernel.events import Event, Handler

log = logging.getLogger(__name__)


def make_client(
    client_id: str,
    *,
    persistent: bool,
    manual_ack: bool = False,
    receive_maximum: int | None = None,
    session_expiry_s: int = 86400,
) -> tuple[mqtt.Client, Properties]:
    """A paho MQTT v5 client and the CONNECT properties for a (persistent) session."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    client.reconnect_delay_set(0.2, 2)
    props = Properties(PacketTypes.CONNECT)
    if persistent:
        props.SessionExpiryInterval = session_expiry_s
    if receive_maximum:
        props.ReceiveMaximum = receive_maximum
    return client, props


def connect_and_wait(
    client: mqtt.Client,
    host: str,
    port: int,
    props: Properties,
    *,
    clean_start: bool,
    timeout: float,
    keepalive: int = 30,
) -> None:
    """Connect, start the network thread and wait for CONNACK (``BusUnavailable`` if none)."""
    ready = threading.Event()
    previous = client.on_connect

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, p: Any) -> None:
        if previous is not None:
            previous(c, userdata, flags, reason, p)
        if not reason.is_failure:
            ready.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive, clean_start=clean_start, properties=props)
    except OSError as exc:
        raise BusUnavailable(f"cannot reach MQTT broker {host}:{port}: {exc}") from exc
    client.loop_start()
    if not ready.wait(timeout):
        client.loop_stop()
        raise BusUnavailable(f"MQTT broker {host}:{port} did not accept the connection")


def user_properties(pairs: dict[str, str]) -> Properties:
    """PUBLISH properties carrying ``pairs`` as MQTT v5 user properties."""
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = list(pairs.items())
    return props


def read_user_properties(msg: mqtt.MQTTMessage) -> dict[str, str]:
    """The MQTT v5 user properties of a received message."""
    props = getattr(msg, "properties", None)
    return dict(getattr(props, "UserProperty", None) or [])


class MqttSubscription:
    """One MQTT session delivering to one handler on a worker thread."""

    def __init__(self, bus: MqttBus, topic: str, handler: Handler, name: str | None) -> None:
        self.bus, self.topic, self.handler = bus, topic, handler
        self.filter = f"{bus.prefix}/#" if topic == "*" else f"{bus.topic_of(topic)}/#"
        self.client_id = f"citybrain-{consumer_name(name)}" if name else f"cb-{uuid.uuid4().hex}"
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._subscribed = threading.Event()
        self._closed = False
        self.client, props = make_client(
            self.client_id,
            persistent=name is not None,
            manual_ack=True,
            receive_maximum=100,
            session_expiry_s=bus.session_expiry_s,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = lambda c, u, m: self._queue.put(m)
        self._worker = threading.Thread(target=self._work, name=f"cb-mqtt-{topic}", daemon=True)
        self._worker.start()
        connect_and_wait(
            self.client,
            bus.host,
            bus.port,
            props,
            clean_start=name is None,
            timeout=bus.connect_timeout_s,
        )
        if not self._subscribed.wait(bus.connect_timeout_s):
            self.close()
            raise BusTimeout(f"MQTT broker did not confirm the subscription to {self.filter}")

    def _on_connect(self, c: mqtt.Client, u: Any, flags: Any, reason: Any, p: Any) -> None:
        if not reason.is_failure:
            c.subscribe(self.filter, qos=1)

    def _work(self) -> None:
        while True:
            msg = self._queue.get()
            if msg is None or self._closed:
                return
            self._handle(msg)

    def _handle(self, msg: mqtt.MQTTMessage) -> None:
        bus = self.bus
        topic = msg.topic[len(bus.prefix) + 1 :].replace("/", ".")
        props = read_user_properties(msg)
        reason = ""
        try:
            event = decode(topic, msg.payload, props.get(EVENT_HEADER))
        except UndecodableEvent as exc:
            reason, attempts = str(exc), 1
        else:
            for attempts in range(1, bus.max_attempts + 1):
                try:
                    self.handler(event)
                    reason = ""
                    break
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                    log.warning("handler on %s failed (attempt %d): %s", topic, attempts, reason)
                    if self._closed:
                        return  # not acked: redelivered when this session reconnects
                    if attempts < bus.max_attempts:
                        time.sleep(bus.retry_delay_s)
        if reason:
            dead = {
                **props,
                "CityBrain-Reason": reason[:2000],
                "CityBrain-Attempts": str(attempts),
                "CityBrain-Consumer": self.client_id,
            }
            dlq_topic = f"{bus.prefix}_dlq/{self.client_id}/{msg.topic[len(bus.prefix) + 1 :]}"
            info = bus._pub.publish(dlq_topic, msg.payload, qos=1, properties=user_properties(dead))
            try:
                info.wait_for_publish(bus.publish_timeout_s)
            except (RuntimeError, ValueError) as exc:
                log.error("dead-lettering %s failed; left unacknowledged: %s", topic, exc)
                return
        self.client.ack(msg.mid, msg.qos)

    def close(self) -> None:
        """Disconnect; a named session keeps its subscription and queued events on the broker."""
        if self._closed:
            return
        self._closed = True
        self.bus._subs.discard(self)
        self._queue.put(None)
        self.client.disconnect()
        self.client.loop_stop()
        self._worker.join(5)


class MqttBus:
    """``EventBus`` over MQTT v5 with QoS 1 (see the module docstring for the contract)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        prefix: str = "citybrain",
        publish_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        max_attempts: int = 5,
        retry_delay_s: float = 1.0,
        session_expiry_s: int = 7 * 86400,
    ) -> None:
        validate_topic(prefix)
        self.host, self.port, self.prefix = host, port, prefix.replace(".", "/")
        self.publish_timeout_s, self.connect_timeout_s = publish_timeout_s, connect_timeout_s
        self.max_attempts, self.retry_delay_s = max_attempts, retry_delay_s
        self.session_expiry_s = session_expiry_s
        self._subs: set[MqttSubscription] = set()
        self._pub, props = make_client(f"cb-pub-{uuid.uuid4().hex}", persistent=False)
        connect_and_wait(self._pub, host, port, props, clean_start=True, timeout=connect_timeout_s)

    def topic_of(self, topic: str) -> str:
        """The MQTT topic of an event topic."""
        return f"{self.prefix}/{'/'.join(validate_topic(topic))}"

    def publish(self, event: Event) -> None:
        """Publish with QoS 1 and block until the broker acknowledges (``BusTimeout`` if not)."""
        body, type_name = encode(event)
        props = user_properties({EVENT_HEADER: type_name, "msg_id": event.id})
        info = self._pub.publish(self.topic_of(event.topic), body, qos=1, properties=props)
        try:
            info.wait_for_publish(self.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise BusUnavailable(f"publishing {event.topic} failed: {exc}") from exc
        if not info.is_published():
            raise BusTimeout(
                f"MQTT broker did not acknowledge {event.topic} ({event.id}) within "
                f"{self.publish_timeout_s}s; it stays queued in this client"
            )

    def subscribe(
        self, topic: str, handler: Handler, *, name: str | None = None
    ) -> MqttSubscription:
        """Deliver events of ``topic`` (exact or prefix; ``'*'`` for all) to ``handler``.

        ``name`` makes the session persistent across restarts of this process.
        """
        if topic != "*":
            validate_topic(topic)
        sub = MqttSubscription(self, topic, handler, name)
        self._subs.add(sub)
        return sub

    def close(self) -> None:
        """Close every subscription and the publishing connection."""
        for sub in list(self._subs):
            sub.close()
        self._pub.disconnect()
        self._pub.loop_stop()
