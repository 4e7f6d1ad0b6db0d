"""Stream collection from MQTT: ``citybrain/<org code>/<dataset id>/<message kind>``, QoS 1.

The collector holds a persistent MQTT v5 session (fixed client id, clean start off, session
expiry), so messages published while it is down wait on the broker. PUBACKs are manual and sent
only after the micro-batch holding the message is committed: a crash before commit means the
broker delivers again on reconnect. Back-pressure: the session's Receive Maximum equals the
batcher's capacity, so the broker never has more unacknowledged messages out to us than the
queue holds; while the sink is failing nothing is acked and the broker stops sending. (If the
queue is ever full anyway, the network thread blocks and TCP pushes back.)

Mind the broker's ``max_queued_messages`` (Mosquitto: 1000 per client by default): messages
beyond it are dropped by the broker for a client that is away or behind. Raise it (or set 0)
in production.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt

from citybrain.hub.stream.batcher import (
    DeadLetterStore,
    MicroBatcher,
    Sink,
    StreamMessage,
    Validator,
)
from citybrain.kernel.bus.errors import BusTimeout
from citybrain.kernel.bus.mqtt import connect_and_wait, make_client, read_user_properties

log = logging.getLogger(__name__)


def topic_filter(
    prefix: str = "citybrain", org: str = "+", dataset: str = "+", kind: str = "+"
) -> str:
    """The MQTT filter for one organisation/dataset/kind (``+`` for any)."""
    return f"{prefix}/{org}/{dataset}/{kind}"


class MqttCollector:
    """Consume QoS 1 messages into micro-batches; ack each after its batch is committed."""

    def __init__(
        self,
        sink: Sink,
        *,
        client_id: str,
        dead_letters: DeadLetterStore,
        validator: Validator | None = None,
        host: str = "127.0.0.1",
        port: int = 1883,
        prefix: str = "citybrain",
        org: str = "+",
        dataset: str = "+",
        kind: str = "+",
        max_batch: int = 500,
        max_delay_ms: float = 50,
        capacity: int = 2000,
        session_expiry_s: int = 86400,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.prefix, self.host, self.port = prefix, host, port
        self.filter = topic_filter(prefix, org, dataset, kind)
        self.client_id, self.connect_timeout_s = client_id, connect_timeout_s
        self.batcher = MicroBatcher(
            sink,
            ack=self._ack,
            dead_letters=dead_letters,
            validator=validator,
            max_batch=max_batch,
            max_delay_ms=max_delay_ms,
            capacity=capacity,
        )
        self.client, self._props = make_client(
            client_id,
            persistent=True,
            manual_ack=True,
            receive_maximum=min(capacity, 65535),
            session_expiry_s=session_expiry_s,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self._subscribed = threading.Event()
        self._started = False

    def start(self) -> MqttCollector:
        """Connect (resuming the session), subscribe and wait for SUBACK; returns self."""
        connect_and_wait(
            self.client,
            self.host,
            self.port,
            self._props,
            clean_start=False,
            timeout=self.connect_timeout_s,
        )
        self._started = True
        if not self._subscribed.wait(self.connect_timeout_s):
            self.stop(drain=False)
            raise BusTimeout(f"MQTT broker did not confirm the subscription to {self.filter}")
        return self

    def _on_connect(self, c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT collector %s refused: %s", self.client_id, reason)
            return
        c.subscribe(self.filter, qos=1)

    def _on_message(self, c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        org, dataset, kind = parts[1:4] if len(parts) == 4 else (None, None, None)
        transport_id = read_user_properties(msg).get("msg_id")
        message = StreamMessage(
            source="mqtt",
            topic=msg.topic,
            payload=msg.payload,
            org=org,
            dataset=dataset,
            kind=kind,
            transport_id=transport_id,
        )
        # Blocks the network thread only if the queue is full despite Receive Maximum.
        if not self.batcher.offer(message, (msg.mid, msg.qos)):
            log.debug("collector closing: %s left unacknowledged for redelivery", msg.topic)

    def _ack(self, tokens: list[Any]) -> None:
        for mid, qos in tokens:
            if qos:
                self.client.ack(mid, qos)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every received message has been committed and acknowledged."""
        return self.batcher.wait_idle(timeout)

    def stop(self, drain: bool = True) -> None:
        """Disconnect. ``drain`` commits and acks what is queued first; without it (a crash)
        the unacknowledged messages are redelivered to the next session with this client id."""
        self.batcher.close(drain=drain)
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
            self._started = False
