"""Micro-batching between a broker and the hub's store: validate, de-duplicate, commit, then ack.

The order is what makes stream collection lose nothing and store nothing twice:

1. messages wait in a bounded queue (the source stops pulling or reading when it is full);
2. a worker takes up to ``max_batch`` messages or what arrived within ``max_delay_ms``;
3. each is parsed (JSON), given its message id (``msg_id`` in the payload, else the transport's
   id, else a content hash), dropped if that id was already committed, and validated;
4. valid messages go to ``sink(batch)`` in one call (one transaction, one ledger entry), invalid
   ones to the dead-letter store with the reason;
5. only then are the messages acknowledged to the broker. A failing sink is retried with backoff
   and nothing is acked meanwhile, so a crash at any point means redelivery, never loss.

Ids already committed are remembered (bounded, most recent ``remember``) so redeliveries are
acked without reaching the sink; beyond that window the sink must upsert by ``msg_id``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from citybrain.kernel.errors import CityBrainError

log = logging.getLogger(__name__)


@dataclass
class StreamMessage:
    """One message from a broker, as the validator and the sink see it."""

    source: str
    topic: str
    payload: bytes
    org: str | None = None
    dataset: str | None = None
    kind: str | None = None
    transport_id: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    msg_id: str = ""
    data: Any = None


@dataclass(frozen=True)
class DeadLetterRecord:
    """A rejected message and why."""

    source: str
    topic: str
    msg_id: str | None
    payload: str
    reason: str
    received_at: datetime


class DeadLetterStore(Protocol):
    """Where rejected messages go (``SqlDeadLetterStore`` writes ``stream_dead_letters``)."""

    def add(self, records: Sequence[DeadLetterRecord]) -> None:
        """Store ``records``; raise to have the whole micro-batch retried."""


class MemoryDeadLetterStore:
    """Dead letters in a list (tests, benchmarks)."""

    def __init__(self) -> None:
        self.records: list[DeadLetterRecord] = []
        self._lock = threading.Lock()

    def add(self, records: Sequence[DeadLetterRecord]) -> None:
        """Append ``records``."""
        with self._lock:
            self.records.extend(records)


Sink = Callable[[list[StreamMessage]], None]
Validator = Callable[[StreamMessage], str | None]
Tokens = Callable[[list[Any]], None]


@dataclass
class BatchStats:
    """Counters of one batcher."""

    received: int = 0
    committed: int = 0
    duplicates: int = 0
    dead: int = 0
    batches: int = 0
    sink_failures: int = 0


def message_id(msg: StreamMessage) -> str:
    """``msg_id`` from the JSON payload, else the transport's id, else a content hash."""
    if isinstance(msg.data, dict):
        value = msg.data.get("msg_id")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    if msg.transport_id:
        return msg.transport_id
    digest = hashlib.sha256(msg.topic.encode() + b"\0" + msg.payload).hexdigest()
    return "sha256:" + digest


class MicroBatcher:
    """Bounded queue + worker thread turning messages into committed, acknowledged batches."""

    def __init__(
        self,
        sink: Sink,
        *,
        ack: Tokens,
        dead_letters: DeadLetterStore,
        validator: Validator | None = None,
        touch: Tokens | None = None,
        max_batch: int = 500,
        max_delay_ms: float = 50,
        capacity: int = 2000,
        remember: int = 100_000,
        max_backoff_s: float = 5.0,
    ) -> None:
        if max_batch < 1 or capacity < 1:
            raise ValueError("max_batch and capacity must be positive")
        self.sink, self.ack, self.touch = sink, ack, touch
        self.dead_letters, self.validator = dead_letters, validator
        self.max_batch, self.max_delay_s = max_batch, max_delay_ms / 1000
        self.capacity, self.remember, self.max_backoff_s = capacity, remember, max_backoff_s
        self.stats = BatchStats()
        self._queue: queue.Queue[tuple[StreamMessage, Any]] = queue.Queue(capacity)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._accepting = True
        self._running = True
        self._drain = True
        self._pending = 0
        self._done = threading.Condition()
        self._worker = threading.Thread(target=self._work, name="cb-microbatcher", daemon=True)
        self._worker.start()

    def free(self) -> int:
        """Room left in the queue (a source pulls at most this many)."""
        return self.capacity - self._queue.qsize()

    def offer(self, message: StreamMessage, token: Any, timeout: float | None = None) -> bool:
        """Queue ``message`` (``token`` is what ``ack`` gets back); block while full.

        Returns False when closed or still full after ``timeout``: the message is not acked,
        so the broker delivers it again.
        """
        if not self._accepting:
            return False
        with self._done:
            self._pending += 1
        try:
            self._queue.put((message, token), timeout=timeout)
        except queue.Full:
            with self._done:
                self._pending -= 1
            return False
        self.stats.received += 1
        return True

    def _take(self) -> list[tuple[StreamMessage, Any]]:
        try:
            items = [self._queue.get(timeout=0.05)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.max_delay_s
        while len(items) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    items.append(self._queue.get(timeout=remaining))
                else:
                    items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _work(self) -> None:
        while True:
            items = self._take()
            if items:
                self._flush(items)
                with self._done:
                    self._pending -= len(items)
                    self._done.notify_all()
            elif not self._running:
                return

    def _classify(
        self, items: list[tuple[StreamMessage, Any]]
    ) -> tuple[list[StreamMessage], list[DeadLetterRecord], int]:
        valid: list[StreamMessage] = []
        dead: list[DeadLetterRecord] = []
        batch_ids: set[str] = set()
        duplicates = 0
        for msg, _ in items:
            reason = None
            try:
                msg.data = json.loads(msg.payload)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                reason = f"malformed JSON: {exc}"
            msg.msg_id = message_id(msg)
            if msg.msg_id in self._seen or msg.msg_id in batch_ids:
                duplicates += 1
                continue
            batch_ids.add(msg.msg_id)
            if reason is None and self.validator is not None:
                try:
                    reason = self.validator(msg)
                except (ValueError, CityBrainError) as exc:
                    reason = str(exc) or type(exc).__name__
            if reason:
                text = msg.payload.decode("utf-8", "backslashreplace")
                dead.append(
                    DeadLetterRecord(
                        msg.source, msg.topic, msg.msg_id, text, reason, msg.received_at
                    )
                )
            else:
                valid.append(msg)
        return valid, dead, duplicates

    def _flush(self, items: list[tuple[StreamMessage, Any]]) -> None:
        valid, dead, duplicates = self._classify(items)
        sunk, buried, attempt = not valid, not dead, 0
        while not (sunk and buried):
            try:
                if not sunk:
                    self.sink(valid)
                    sunk = True
                if not buried:
                    self.dead_letters.add(dead)
                    buried = True
            except Exception as exc:
                attempt += 1
                self.stats.sink_failures += 1
                log.warning("micro-batch of %d failed (attempt %d): %s", len(items), attempt, exc)
                if not self._running and not self._drain:
                    return  # abandoned unacked: the broker redelivers
                if self.touch is not None:
                    self.touch([tok for _, tok in items])
                time.sleep(min(self.max_backoff_s, 0.05 * 2**attempt))
        for msg in valid:
            self._remember(msg.msg_id)
        for rec in dead:
            self._remember(rec.msg_id or "")
        self.stats.committed += len(valid)
        self.stats.dead += len(dead)
        self.stats.duplicates += duplicates
        self.stats.batches += 1
        self.ack([tok for _, tok in items])

    def _remember(self, msg_id: str) -> None:
        self._seen[msg_id] = None
        if len(self._seen) > self.remember:
            self._seen.popitem(last=False)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued has been committed and acked."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def close(self, drain: bool = True) -> None:
        """Stop accepting; with ``drain`` commit and ack what is queued, else abandon it."""
        self._accepting = False
        self._drain = drain
        if not drain:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
                with self._done:
                    self._pending -= 1
        self._running = False
        self._worker.join(30)
