"""Stream collection from NATS JetStream: subjects ``collect.<org code>.<dataset id>``.

A durable pull consumer (explicit acks) feeds the micro-batcher. Back-pressure: the collector
pulls at most as many messages as the batcher's queue has room for, and pulls nothing while it
is full; the consumer's ``max_ack_pending`` bounds what the server hands out. A message is acked
only after its micro-batch is committed; while the sink is failing, pending messages are marked
in progress so JetStream does not redeliver them behind our back. A crash before commit means
redelivery after ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import api

from citybrain.hub.stream.batcher import (
    DeadLetterStore,
    MicroBatcher,
    Sink,
    StreamMessage,
    Validator,
)
from citybrain.kernel.bus.errors import BusUnavailable
from citybrain.kernel.bus.loop import LoopThread

log = logging.getLogger(__name__)


class NatsCollector:
    """Consume ``collect.<org>.<dataset>`` into micro-batches; ack after commit."""

    def __init__(
        self,
        sink: Sink,
        *,
        dead_letters: DeadLetterStore,
        validator: Validator | None = None,
        url: str = "nats://127.0.0.1:4222",
        stream: str = "CITYBRAIN_COLLECT",
        subject_prefix: str = "collect",
        durable: str = "citybrain-collector",
        org: str = "*",
        dataset: str = "*",
        max_batch: int = 500,
        max_delay_ms: float = 50,
        capacity: int = 2000,
        fetch_batch: int = 256,
        ack_wait_s: float = 30.0,
        max_age_s: float = 7 * 86400,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.url, self.stream, self.prefix, self.durable = url, stream, subject_prefix, durable
        self.filter = f"{subject_prefix}.{org}.{dataset}"
        self.fetch_batch, self.ack_wait_s, self.max_age_s = fetch_batch, ack_wait_s, max_age_s
        self.max_ack_pending = capacity + max_batch
        self.connect_timeout_s = connect_timeout_s
        self.batcher = MicroBatcher(
            sink,
            ack=self._ack,
            touch=self._touch,
            dead_letters=dead_letters,
            validator=validator,
            max_batch=max_batch,
            max_delay_ms=max_delay_ms,
            capacity=capacity,
        )
        self._loop: LoopThread | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> NatsCollector:
        """Connect, create the stream and durable consumer if missing, start pulling."""
        self._loop = LoopThread("citybrain-nats-collector")
        try:
            self._loop.run(self._start(), timeout=self.connect_timeout_s + 5)
        except Exception as exc:
            self._loop.stop()
            self._loop = None
            raise BusUnavailable(f"cannot start NATS collector at {self.url}: {exc!r}") from exc
        return self

    async def _start(self) -> None:
        async def on_error(exc: Exception) -> None:
            log.warning("NATS collector: %s", exc)

        self._nc = await asyncio.wait_for(
            nats.connect(
                self.url,
                connect_timeout=self.connect_timeout_s,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=on_error,
                name=f"citybrain-collector-{self.durable}",
            ),
            self.connect_timeout_s,
        )
        self._js = self._nc.jetstream()
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(
                name=self.stream,
                subjects=[f"{self.prefix}.>"],
                storage=api.StorageType.FILE,
                max_age=self.max_age_s,
            )
        config = api.ConsumerConfig(
            durable_name=self.durable,
            filter_subject=self.filter,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            max_deliver=-1,
            max_ack_pending=self.max_ack_pending,
        )
        psub = await self._js.pull_subscribe(
            self.filter, durable=self.durable, stream=self.stream, config=config
        )
        self._task = asyncio.create_task(self._pull(psub))

    async def _pull(self, psub: Any) -> None:
        while not self._stopping:
            room = self.batcher.free()
            if room <= 0:
                await asyncio.sleep(0.01)  # back-pressure: the queue is full, pull nothing
                continue
            try:
                msgs = await psub.fetch(min(room, self.fetch_batch), timeout=0.5)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("NATS collector fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                self._offer(msg)

    def _offer(self, msg: Msg) -> None:
        parts = msg.subject.split(".")
        tail = parts[len(self.prefix.split(".")) :]
        headers = msg.headers or {}
        seq = msg.metadata.sequence.stream if msg.metadata.sequence else 0
        message = StreamMessage(
            source="nats",
            topic=msg.subject,
            payload=msg.data,
            org=tail[0] if len(tail) > 0 else None,
            dataset=tail[1] if len(tail) > 1 else None,
            kind=headers.get("CityBrain-Kind"),
            transport_id=headers.get("Nats-Msg-Id") or f"nats:{self.stream}:{seq}",
        )
        # Never blocks: we pulled no more than the free room, and only this task offers.
        if not self.batcher.offer(message, msg, timeout=0):
            log.debug("collector full or closing: %s left for redelivery", msg.subject)

    def _ack(self, tokens: list[Any]) -> None:
        self._on_loop(self._ack_all(tokens))

    async def _ack_all(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await msg.ack()
        await self._nc.flush()

    def _touch(self, tokens: list[Any]) -> None:
        async def touch() -> None:
            for msg in tokens:
                await msg.in_progress()

        self._on_loop(touch())

    def _on_loop(self, coro: Any) -> None:
        if self._loop is None:
            coro.close()
            return
        try:
            self._loop.run(coro, timeout=10)
        except Exception as exc:  # not acked: redelivered after ack_wait, deduped by msg_id
            log.warning("NATS collector ack failed: %s", exc)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every received message has been committed and acknowledged."""
        return self.batcher.wait_idle(timeout)

    def stop(self, drain: bool = True) -> None:
        """Stop pulling; ``drain`` commits and acks what is queued, else it is abandoned
        unacknowledged (a crash) and JetStream redelivers it after ``ack_wait``."""
        self._stopping = True
        if self._loop is None:
            self.batcher.close(drain=drain)
            return
        loop = self._loop

        async def halt() -> None:
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)

        loop.run(halt(), timeout=5)
        self.batcher.close(drain=drain)
        try:
            loop.run(self._nc.close(), timeout=5)
        except Exception as exc:
            log.debug("closing NATS connection: %s", exc)
        self._loop = None
        loop.stop()
