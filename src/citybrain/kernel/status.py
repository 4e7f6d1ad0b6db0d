"""The hub's state at a glance (home page, cockpit) and the background ledger verifier."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from citybrain.kernel.gate import Resource
from citybrain.kernel.identity.service import organisation_count, user_count
from citybrain.kernel.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerVerification:
    """The outcome of the last full ledger verification."""

    ok: bool
    size: int
    first_bad_seq: int | None
    reason: str
    checked_at: datetime


@dataclass(frozen=True)
class HubStatus:
    """Counts and ledger facts shown on the home page."""

    organisations: int
    users: int
    ledger_size: int
    ledger_root: str
    checkpoint_size: int | None
    checkpoint_time: datetime | None
    checkpoint_key_id: str | None
    verification: LedgerVerification | None


class LedgerVerifier:
    """Re-verifies the whole ledger now and then in a background thread."""

    def __init__(self, runtime: Runtime, interval_s: float = 300.0) -> None:
        self.runtime = runtime
        self.interval_s = interval_s
        self.last: LedgerVerification | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def verify_now(self) -> LedgerVerification:
        """Verify the ledger from its stored entries and checkpoints."""
        with self.runtime.reader() as session:
            report = self.runtime.ledger.verify(session)
        self.last = LedgerVerification(
            report.ok, report.size, report.first_bad_seq, report.reason or "", self.runtime.clock()
        )
        return self.last

    def start(self) -> None:
        """Verify at once and then every ``interval_s`` seconds until ``stop``."""

        def loop() -> None:
            while True:
                try:
                    self.verify_now()
                except Exception:  # keep the watcher alive; the failure shows as unknown
                    log.exception("ledger verification failed to run")
                if self._stop.wait(self.interval_s):
                    return

        self._thread = threading.Thread(target=loop, name="ledger-verifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()


def hub_status(runtime: Runtime, verification: LedgerVerification | None = None) -> HubStatus:
    """Read the hub's state (aggregate counts only; no governed records)."""
    with runtime.reader() as session:
        head = runtime.ledger.head(session)
        cp = runtime.ledger.latest_checkpoint(session)
        return HubStatus(
            organisations=organisation_count(session),
            users=user_count(session),
            ledger_size=head.size,
            ledger_root=head.root.hex(),
            checkpoint_size=cp.tree_size if cp else None,
            checkpoint_time=cp.ts if cp else None,
            checkpoint_key_id=cp.key_id if cp else None,
            verification=verification,
        )


class PeriodicCheckpointer:
    """Signs a checkpoint every ``interval_s`` when entries arrived since the last one.

    The ledger itself signs on append every N entries or T seconds; this covers the quiet
    periods, so the newest checkpoint never trails a ledger that stopped growing.
    """

    def __init__(self, runtime: Runtime, interval_s: float | None = None) -> None:
        self.runtime = runtime
        self.interval_s = interval_s or runtime.settings.checkpoint_interval_s
        self._stop = threading.Event()

    def tick(self) -> bool:
        """Sign a checkpoint if the ledger grew since the last one; True when one was signed."""
        rt = self.runtime
        with rt.factory() as session:
            head = rt.ledger.head(session)
        if head.size == head.last_checkpoint_size:
            return False
        res = Resource("Ledger", "checkpoints", rt.settings.city_code)
        with rt.gate.system(
            "system:checkpointer",
            rt.settings.city_code,
            "ledger.checkpoint",
            res,
            request_id="checkpointer-" + uuid.uuid4().hex[:12],
            purpose="periodic checkpoint",
        ) as session:
            if rt.ledger.head(session).last_checkpoint_size < rt.ledger.size(session):
                rt.ledger.checkpoint(session, force=True)  # unless the append just signed one
        return True

    def start(self) -> None:
        """Run ``tick`` in a daemon thread until ``stop``."""

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                try:
                    self.tick()
                except Exception:
                    log.exception("periodic checkpoint failed")

        threading.Thread(target=loop, name="ledger-checkpointer", daemon=True).start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
