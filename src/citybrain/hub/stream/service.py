"""Stream collection services without HTTP: the SQL dead-letter store."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citybrain.hub.stream.batcher import DeadLetterRecord
from citybrain.hub.stream.models import StreamDeadLetter


class SqlDeadLetterStore:
    """Dead letters in ``stream_dead_letters``, one transaction per micro-batch."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def add(self, records: Sequence[DeadLetterRecord]) -> None:
        """Insert ``records`` in one transaction."""
        with self.factory.begin() as session:
            session.add_all(
                StreamDeadLetter(
                    source=r.source,
                    topic=r.topic[:500],
                    msg_id=r.msg_id[:200] if r.msg_id else None,
                    payload=r.payload,
                    reason=r.reason,
                    received_at=r.received_at,
                )
                for r in records
            )

    def list(self, topic: str | None = None, limit: int = 100) -> list[StreamDeadLetter]:
        """Newest dead letters first, optionally of one topic."""
        query = select(StreamDeadLetter).order_by(StreamDeadLetter.id.desc()).limit(limit)
        if topic is not None:
            query = query.where(StreamDeadLetter.topic == topic)
        with self.factory() as session:
            return list(session.scalars(query))
