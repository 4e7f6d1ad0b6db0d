"""Profile a dataset for personal information after each upload, in the background.

``PiiWatch`` listens on the event bus for ledger decisions (``kernel.ledger.recorded``); when a
``collect`` on ``Dataset/<slug>`` was allowed (a batch upload committed) it queues the dataset.
A worker thread profiles it and stores the proposal as a ledgered system action. The bus
handler only queues, so nothing runs in the request thread. Debounced: a dataset is profiled at
most once per ``debounce_s`` seconds; uploads inside that window are covered by one run when it
ends. Errors are logged, never raised: the watch keeps going.

Start it beside the server with ``start_pii_watch(runtime)``; stop it with ``stop()``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from citybrain.governance.privacy.api import register_gate_actions
from citybrain.governance.privacy.proposals import SAMPLE, get_dataset, profile_dataset
from citybrain.kernel.events import Event, GovernedActionRecorded, Subscription
from citybrain.kernel.gate import Resource
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime

log = logging.getLogger(__name__)

DEFAULT_DEBOUNCE_S = 60.0
SUBSCRIPTION = "governance-privacy-watch"
ACTION = "privacy.profile"


def uploaded_dataset(event: Event) -> str | None:
    """The dataset slug when ``event`` records an allowed collect on ``Dataset/<slug>``."""
    if getattr(event, "topic", None) != GovernedActionRecorded.topic:
        return None
    if getattr(event, "decision", None) != "allow" or getattr(event, "action", None) != "collect":
        return None
    kind, _, slug = str(getattr(event, "resource", "")).partition("/")
    return slug if kind == "Dataset" and slug else None


class PiiWatch:
    """Profiles uploaded datasets in a daemon thread (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        *,
        sample: int = SAMPLE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.debounce_s = debounce_s
        self.sample = sample
        self.profiled = 0  # proposals stored
        self.failures = 0  # runs that failed (logged)
        self._now = monotonic
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}  # dataset -> when to profile it
        self._last: dict[str, float] = {}  # dataset -> when it was last profiled
        self._running: str | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._sub: Subscription | None = None

    def start(self) -> PiiWatch:
        """Subscribe to the bus and start the worker (no-op when running); returns self."""
        if self._thread is not None and self._thread.is_alive():
            return self
        register_gate_actions()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="privacy-pii-watch", daemon=True)
        self._thread.start()
        self._sub = self.runtime.bus.subscribe(
            GovernedActionRecorded.topic, self.on_event, name=SUBSCRIPTION
        )
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Unsubscribe, drop what is queued, and wait up to ``timeout`` for a running profile."""
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        with self._cond:
            self._stopping = True
            self._due.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def on_event(self, event: Event) -> None:
        """Bus handler: queue the dataset of an allowed upload (never profiles here)."""
        slug = uploaded_dataset(event)
        if slug is not None:
            self.notify(slug)

    def notify(self, slug: str) -> None:
        """Queue ``slug``: now, or when its debounce window since the last run ends."""
        with self._cond:
            if self._stopping or slug in self._due:
                return
            last = self._last.get(slug)
            now = self._now()
            self._due[slug] = now if last is None else max(now, last + self.debounce_s)
            self._cond.notify_all()

    def pending(self) -> dict[str, float]:
        """Queued datasets and the seconds until each is profiled."""
        with self._cond:
            now = self._now()
            return {slug: max(0.0, when - now) for slug, when in self._due.items()}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is running or due now; False on timeout (for tests)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._running is not None or any(w <= self._now() for w in self._due.values()):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def _next(self) -> str | None:
        """Block until a dataset is due (None when stopping)."""
        with self._cond:
            while not self._stopping:
                if self._due:
                    slug, when = min(self._due.items(), key=lambda item: item[1])
                    wait = when - self._now()
                    if wait <= 0:
                        del self._due[slug]
                        self._running = slug
                        self._last[slug] = self._now()
                        return slug
                    self._cond.wait(min(wait, 1.0))
                else:
                    self._cond.wait()
            return None

    def _loop(self) -> None:
        while (slug := self._next()) is not None:
            try:
                self.profile(slug)
            except Exception:  # keep watching; the next upload tries again
                self.failures += 1
                log.exception("profiling dataset %s after an upload failed", slug)
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def profile(self, slug: str) -> int:
        """Profile ``slug`` now and store the proposal as a system action; its id."""
        rt = self.runtime
        with rt.reader() as session:
            provider = get_dataset(session, slug).provider.code
        res = Resource("Dataset", slug, provider)
        with rt.gate.system(
            SYSTEM_ACTOR,
            rt.settings.city_code,
            ACTION,
            res,
            request_id=f"pii-watch-{uuid.uuid4().hex[:16]}",
            purpose="profile personal information after an upload",
        ) as session:
            ds = get_dataset(session, slug)
            proposal = profile_dataset(
                session, ds, trigger="upload", clock=rt.clock, sample=self.sample
            )
            proposal_id = proposal.id
        self.profiled += 1
        return proposal_id


def start_pii_watch(runtime: Runtime, debounce_s: float = DEFAULT_DEBOUNCE_S) -> PiiWatch:
    """Start profiling uploaded datasets in the background; call ``stop()`` on the result."""
    return PiiWatch(runtime, debounce_s).start()
