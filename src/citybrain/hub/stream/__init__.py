"""Stream collection (Art8): MQTT and NATS JetStream consumers feeding committed micro-batches.

``MqttCollector`` (topics ``citybrain/<org>/<dataset>/<kind>``) and ``NatsCollector`` (subjects
``collect.<org>.<dataset>``) hand messages to a ``MicroBatcher`` that validates, de-duplicates
by message id, writes each micro-batch through one ``sink(batch)`` call and only then acks.
Rejected messages go to a ``DeadLetterStore`` (``SqlDeadLetterStore``: ``stream_dead_letters``).
Delivery is at least once; the sink must upsert by ``msg_id``.
"""

from __future__ import annotations

from citybrain.hub.stream.batcher import (
    BatchStats,
    DeadLetterRecord,
    DeadLetterStore,
    MemoryDeadLetterStore,
    MicroBatcher,
    StreamMessage,
    message_id,
)
from citybrain.hub.stream.mqtt import MqttCollector
from citybrain.hub.stream.nats import NatsCollector
from citybrain.hub.stream.service import SqlDeadLetterStore

__all__ = [
    "BatchStats",
    "DeadLetterRecord",
    "DeadLetterStore",
    "MemoryDeadLetterStore",
    "MicroBatcher",
    "MqttCollector",
    "NatsCollector",
    "SqlDeadLetterStore",
    "StreamMessage",
    "message_id",
]
