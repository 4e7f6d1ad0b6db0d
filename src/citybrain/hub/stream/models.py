"""Tables of stream collection: the dead-letter store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime


class StreamDeadLetter(Base):
    """A message a stream collector rejected, kept with the reason (never silently dropped)."""

    __tablename__ = "stream_dead_letters"
    __table_args__ = (
        Index("ix_stream_dead_letters_topic_received_at", "topic", "received_at"),
        Index("ix_stream_dead_letters_msg_id", "msg_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(500))
    msg_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
