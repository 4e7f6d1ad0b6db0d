"""Group commit: many threads submit entries, one background thread commits them in batches."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from citybrain.ledger.entry import EntryData
from citybrain.ledger.errors import CommitterClosed

if TYPE_CHECKING:
    from citybrain.ledger.service import Appended, Ledger

_STOP = object()


class GroupCommitter:
    """Batch concurrent submissions into one transaction each (``Ledger.append_many``).

    ``submit`` returns once the entry's batch is committed, so the entry is durable. A batch is
    cut when it reaches ``max_batch``, or when every submitter seen in the previous batch is back
    (or nobody else is mid-submit), or after ``max_wait_s``. If a batch fails, every caller in it
    gets the exception.
    """

    def __init__(
        self,
        ledger: Ledger,
        session_factory: Callable[[], Session],
        max_batch: int = 512,
        max_wait_s: float = 0.002,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch: must be at least 1")
        self.ledger = ledger
        self.session_factory = session_factory
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._announced = 0  # submissions started (counted before they reach the queue)
        self._taken = 0  # submissions taken off the queue by the committer
        self._closed = False
        self.batches = 0
        self.committed = 0
        self._thread = threading.Thread(target=self._run, name="ledger-group-commit", daemon=True)
        self._thread.start()

    def submit_async(self, entry: EntryData) -> Future[Appended]:
        """Queue ``entry``; the future resolves when its batch is committed."""
        fut: Future[Appended] = Future()
        with self._lock:
            if self._closed:
                raise CommitterClosed("the group committer is closed")
            self._announced += 1
            self._queue.put((entry, fut))
        return fut

    def submit(self, entry: EntryData) -> Appended:
        """Append ``entry`` and return once it is committed (durable)."""
        return self.submit_async(entry).result()

    def close(self, timeout: float | None = None) -> None:
        """Commit what is queued, then stop the background thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _others_pending(self) -> bool:
        with self._lock:
            return self._announced > self._taken

    def _collect(self, first: Any, target: int) -> tuple[list[Any], bool]:
        """Gather a batch starting with ``first``; returns (batch, stop requested)."""
        batch = [first]
        with self._lock:
            self._taken += 1
        deadline: float | None = None
        q = self._queue
        while len(batch) < self.max_batch:
            try:
                item = q.get_nowait()
            except queue.Empty:
                if len(batch) >= target and not self._others_pending():
                    break
                if deadline is None:
                    deadline = time.monotonic() + self.max_wait_s
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = q.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is _STOP:
                return batch, True
            with self._lock:
                self._taken += 1
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        target = 1
        stop = False
        try:
            session = self.session_factory()  # one session for the thread's life, one txn a batch
            try:
                while not stop:
                    first = self._queue.get()
                    if first is _STOP:
                        return
                    batch, stop = self._collect(first, target)
                    # Expect as many submitters as recently seen; forget idle ones gradually.
                    target = max(len(batch), target - 1)
                    self._commit(session, batch)
            finally:
                session.close()
        except BaseException as exc:  # the thread is dying: nobody may wait forever
            with self._lock:
                self._closed = True
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP and item[1].set_running_or_notify_cancel():
                    item[1].set_exception(CommitterClosed(f"the group committer failed: {exc!r}"))
            raise

    def _commit(self, session: Session, batch: list[Any]) -> None:
        live = [(e, f) for e, f in batch if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with session.begin():
                results = self.ledger.append_many(session, [e for e, _ in live])
        except BaseException as exc:  # every caller of the batch learns why
            session.rollback()
            for _, fut in live:
                fut.set_exception(exc)
            return
        self.batches += 1
        self.committed += len(live)
        for (_, fut), res in zip(live, results, strict=True):
            fut.set_result(res)
