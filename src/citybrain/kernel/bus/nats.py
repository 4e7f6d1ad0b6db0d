"""The event bus on NATS JetStream, for synchronous callers.

One stream (default ``CITYBRAIN_EVENTS``, subjects ``citybrain.>``, file storage) holds every
event at ``citybrain.<topic>``; ``Nats-Msg-Id`` is the event id, so a republished event is stored
once within the stream's duplicate window. Each subscription is a pull consumer with explicit
acks: the message is acked after the handler returns, nak'ed with a delay when it raises, and
after ``max_attempts`` deliveries it is moved to the dead-letter stream (``<stream>_DLQ``,
subjects ``citybrain_dlq.<consumer>.<topic>``) with the reason, and terminated.

A subscription given a ``name`` is a durable consumer: it survives restarts and processes that
subscribe under the same name share the work (each event handled by one of them). Without a
name a subscription gets a private consumer, deleted on ``close``, like the in-process bus.
Delivery is at least once: handlers must be idempotent (key their effects on ``event.id``).

The asyncio client runs on a private event-loop thread; handlers run on one worker thread per
subscription, so they may publish.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import api

from citybrain.kernel.bus.codec import (
    EVENT_HEADER,
    UndecodableEvent,
    consumer_name,
    decode,
    encode,
    validate_topic,
)
from citybrain.kernel.bus.errors import BusError, BusTimeout, BusUnavailable
from citybrain.kernel.bus.loop import LoopThread
from citybrain.kernel.events import Event, Handler

log = logging.getLogger(__name__)

REASON_HEADER = "CityBrain-Reason"
ATTEMPTS_HEADER = "CityBrain-Attempts"
CONSUMER_HEADER = "CityBrain-Consumer"


@dataclass(frozen=True)
class DeadLetter:
    """An event a subscriber could not handle, as kept in the dead-letter stream."""

    topic: str
    consumer: str
    reason: str
    attempts: int
    event_id: str | None
    event_type: str | None
    payload: bytes


def _header_value(text: str, limit: int = 2000) -> str:
    return " ".join(text.split())[:limit]


class NatsSubscription:
    """One subscriber: one pull consumer per filter subject, one worker thread for the handler."""

    def __init__(
        self,
        bus: NatsJetStreamBus,
        topic: str,
        handler: Handler,
        consumers: list[tuple[str, str]],
        private: bool,
    ) -> None:
        self.bus, self.topic, self.handler = bus, topic, handler
        self.consumers, self.private = consumers, private
        self._executor = concurrent.futures.ThreadPoolExecutor(1, f"cb-handler-{topic}")
        self._tasks: list[asyncio.Task[None]] = []
        self._psubs: list[Any] = []
        self._closed = False

    async def _start(self) -> None:
        bus = self.bus
        for name, subject in self.consumers:
            config = api.ConsumerConfig(
                name=name,
                durable_name=name,
                filter_subject=subject,
                ack_policy=api.AckPolicy.EXPLICIT,
                deliver_policy=api.DeliverPolicy.NEW,
                ack_wait=bus.ack_wait_s,
                max_deliver=-1,
                max_ack_pending=bus.max_ack_pending,
                inactive_threshold=3600.0 if self.private else None,
            )
            try:
                await bus._js.add_consumer(bus.stream, config)
            except nats.js.errors.BadRequestError as exc:
                info = await bus._js.consumer_info(bus.stream, name)
                if info.config.filter_subject != subject:
                    raise BusError(
                        f"consumer {name!r} exists with filter {info.config.filter_subject!r}, "
                        f"not {subject!r}; pick another subscriber name",
                        field="name",
                    ) from exc
            psub = await bus._js.pull_subscribe_bind(durable=name, stream=bus.stream)
            self._psubs.append(psub)
            self._tasks.append(asyncio.create_task(self._pull(psub, name)))

    async def _pull(self, psub: Any, name: str) -> None:
        while not self._closed:
            try:
                msgs = await psub.fetch(self.bus.fetch_batch, timeout=1.0)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # disconnected, consumer gone: keep trying
                log.warning("fetch for consumer %s failed: %s", name, exc)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                if self._closed:
                    return  # not acked: redelivered to the next holder of this consumer
                await asyncio.shield(self._deliver(msg, name))

    async def _deliver(self, msg: Msg, name: str) -> None:
        bus = self.bus
        topic = msg.subject[len(bus.subject_prefix) + 1 :]
        attempts = msg.metadata.num_delivered or 1
        type_name = (msg.headers or {}).get(EVENT_HEADER)
        try:
            event = decode(topic, msg.data, type_name)
        except UndecodableEvent as exc:
            await bus._dead_letter(msg, name, topic, str(exc), attempts)
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.handler, event)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if attempts >= bus.max_attempts:
                log.error("dead-lettering %s for %s after %d attempts", topic, name, attempts)
                await bus._dead_letter(msg, name, topic, reason, attempts)
            else:
                log.warning("%s failed on %s (attempt %d): %s", name, topic, attempts, reason)
                await msg.nak(delay=bus.nak_delay_s)
            return
        await msg.ack()

    async def _stop(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for psub in self._psubs:
            with contextlib.suppress(Exception):
                await psub.unsubscribe()  # no interest: the server drops our waiting pulls
        if self.private:
            for name, _ in self.consumers:
                try:
                    await self.bus._js.delete_consumer(self.bus.stream, name)
                except Exception as exc:  # already gone, or the server is down: it expires
                    log.debug("could not delete consumer %s: %s", name, exc)

    def close(self) -> None:
        """Stop delivery; a private consumer is deleted, a named one keeps its position."""
        if self._closed:
            return
        self.bus._subs.discard(self)
        if not self.bus._loop.loop.is_closed():
            try:
                self.bus._loop.run(self._stop(), timeout=10)
            except Exception as exc:
                log.warning("closing subscription to %s: %s", self.topic, exc)
        self._closed = True
        self._executor.shutdown(wait=False)


class NatsJetStreamBus:
    """``EventBus`` over NATS JetStream (see the module docstring for the delivery contract)."""

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "CITYBRAIN_EVENTS",
        subject_prefix: str = "citybrain",
        max_age_s: float = 7 * 86400,
        duplicate_window_s: float = 120,
        publish_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        max_attempts: int = 5,
        nak_delay_s: float = 1.0,
        ack_wait_s: float = 30.0,
        fetch_batch: int = 64,
        max_ack_pending: int = 1000,
    ) -> None:
        validate_topic(subject_prefix)
        self.url, self.stream, self.subject_prefix = url, stream, subject_prefix
        self.dlq_stream, self.dlq_prefix = f"{stream}_DLQ", f"{subject_prefix}_dlq"
        self.max_age_s, self.duplicate_window_s = max_age_s, duplicate_window_s
        self.publish_timeout_s, self.max_attempts = publish_timeout_s, max_attempts
        self.nak_delay_s, self.ack_wait_s = nak_delay_s, ack_wait_s
        self.fetch_batch, self.max_ack_pending = fetch_batch, max_ack_pending
        self._subs: set[NatsSubscription] = set()
        self._loop = LoopThread("citybrain-nats-bus")
        try:
            self._loop.run(self._connect(connect_timeout_s), timeout=connect_timeout_s + 5)
        except Exception as exc:
            self._loop.stop()
            if isinstance(exc, BusError):
                raise
            raise BusUnavailable(f"cannot reach NATS JetStream at {url}: {exc!r}") from exc

    async def _connect(self, timeout: float) -> None:
        async def on_error(exc: Exception) -> None:
            log.warning("NATS: %s", exc)

        # Reconnect forever once connected, but give up on the first connection after timeout.
        self._nc = await asyncio.wait_for(
            nats.connect(
                self.url,
                connect_timeout=timeout,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=on_error,
                name="citybrain-bus",
            ),
            timeout,
        )
        self._js = self._nc.jetstream(timeout=self.publish_timeout_s)
        await self._ensure_stream(self.stream, f"{self.subject_prefix}.>")
        await self._ensure_stream(self.dlq_stream, f"{self.dlq_prefix}.>")

    async def _ensure_stream(self, name: str, subject: str) -> None:
        try:
            info = await self._js.stream_info(name)
        except nats.js.errors.NotFoundError:
            config = api.StreamConfig(
                name=name,
                subjects=[subject],
                storage=api.StorageType.FILE,
                max_age=self.max_age_s,
                duplicate_window=self.duplicate_window_s,
            )
            try:
                await self._js.add_stream(config)
            except nats.js.errors.BadRequestError:
                info = await self._js.stream_info(name)  # created meanwhile by another process
            else:
                return
        if subject not in (info.config.subjects or []):
            raise BusError(f"stream {name} exists without subject {subject}", field="stream")

    def subject(self, topic: str) -> str:
        """The NATS subject of ``topic``."""
        return f"{self.subject_prefix}.{'.'.join(validate_topic(topic))}"

    def publish(self, event: Event) -> None:
        """Store ``event`` in the stream; block until JetStream acks (``BusTimeout`` if not)."""
        subject = self.subject(event.topic)
        body, type_name = encode(event)
        headers = {"Nats-Msg-Id": event.id, EVENT_HEADER: type_name}
        timeout = self.publish_timeout_s
        try:
            ack = self._loop.run(
                self._js.publish(subject, body, timeout=timeout, headers=headers), timeout + 1
            )
        except TimeoutError as exc:
            raise BusTimeout(
                f"JetStream did not acknowledge {event.topic} ({event.id}) within {timeout}s; "
                "it may or may not be stored (republishing the same event is safe)"
            ) from exc
        except nats.js.errors.NoStreamResponseError as exc:
            raise BusUnavailable(f"no JetStream stream answers for {subject}") from exc
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            raise BusUnavailable(f"publishing {event.topic} failed: {exc!r}") from exc
        if ack.duplicate:
            log.debug("event %s already in stream %s", event.id, ack.stream)

    def subscribe(
        self, topic: str, handler: Handler, *, name: str | None = None
    ) -> NatsSubscription:
        """Deliver events of ``topic`` (exact or prefix; ``'*'`` for all) to ``handler``.

        ``name`` makes the consumer durable and shared by every process using that name.
        """
        if topic == "*":
            subjects = [("a", f"{self.subject_prefix}.>")]
        else:
            exact = self.subject(topic)
            subjects = [("e", exact), ("p", f"{exact}.>")]
        base = consumer_name(name) if name else "cb-" + uuid.uuid4().hex
        consumers = [(f"{base}-{suffix}", subject) for suffix, subject in subjects]
        sub = NatsSubscription(self, topic, handler, consumers, private=name is None)
        try:
            self._loop.run(sub._start(), timeout=self.publish_timeout_s * 2)
        except BusError:
            raise
        except Exception as exc:
            raise BusUnavailable(f"cannot subscribe to {topic}: {exc!r}") from exc
        self._subs.add(sub)
        return sub

    async def _dead_letter(
        self, msg: Msg, consumer: str, topic: str, reason: str, attempts: int
    ) -> None:
        headers = {
            k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-Expected")
        }
        seq = msg.metadata.sequence.stream if msg.metadata.sequence else 0
        event_id = headers.get("Nats-Msg-Id") or f"seq-{seq}"
        headers.update(
            {
                "Nats-Msg-Id": f"{consumer}:{event_id}",
                REASON_HEADER: _header_value(reason),
                ATTEMPTS_HEADER: str(attempts),
                CONSUMER_HEADER: consumer,
            }
        )
        try:
            subject = f"{self.dlq_prefix}.{consumer}.{topic}"
            await self._js.publish(subject, msg.data, headers=headers)
        except Exception as exc:
            log.error("dead-lettering %s failed, will retry: %s", topic, exc)
            await msg.nak(delay=self.nak_delay_s)
            return
        await msg.term()

    def dead_letters(self, consumer: str | None = None, limit: int = 1000) -> list[DeadLetter]:
        """Dead letters (oldest first), optionally of one subscriber name."""

        async def read() -> list[DeadLetter]:
            info = await self._js.stream_info(self.dlq_stream)
            found: list[DeadLetter] = []
            if not info.state.messages:
                return found
            for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
                if len(found) >= limit:
                    break
                try:
                    raw = await self._js.get_msg(self.dlq_stream, seq)
                except nats.js.errors.NotFoundError:
                    continue
                hdr = raw.headers or {}
                who = hdr.get(CONSUMER_HEADER, "")
                if consumer and not who.startswith(consumer_name(consumer) + "-"):
                    continue
                topic = (raw.subject or "")[len(self.dlq_prefix) + len(who) + 2 :]
                found.append(
                    DeadLetter(
                        topic=topic,
                        consumer=who,
                        reason=hdr.get(REASON_HEADER, ""),
                        attempts=int(hdr.get(ATTEMPTS_HEADER, "0")),
                        event_id=(hdr.get("Nats-Msg-Id") or "").partition(":")[2] or None,
                        event_type=hdr.get(EVENT_HEADER),
                        payload=raw.data or b"",
                    )
                )
            return found

        return self._loop.run(read(), timeout=30)

    def stream_messages(self) -> int:
        """How many events the stream holds now."""

        async def count() -> int:
            return (await self._js.stream_info(self.stream)).state.messages

        return self._loop.run(count(), timeout=self.publish_timeout_s)

    def delete_streams(self) -> None:
        """Delete the event and dead-letter streams (tests and teardown of a city)."""

        async def delete() -> None:
            for name in (self.stream, self.dlq_stream):
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await self._js.delete_stream(name)

        self._loop.run(delete(), timeout=self.publish_timeout_s * 2)

    def close(self) -> None:
        """Stop every subscription and disconnect."""
        if self._loop.loop.is_closed():
            return
        for sub in list(self._subs):
            sub.close()
        try:
            self._loop.run(self._nc.close(), timeout=5)
        except Exception as exc:
            log.debug("closing NATS connection: %s", exc)
        self._loop.stop()
