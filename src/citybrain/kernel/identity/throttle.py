"""Failed-login throttle: after too many failures for a name or a client address, wait.

In-process (one API process); several processes behind a load balancer each keep their own
count, so the effective limit is multiplied by their number until a shared store backs it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from citybrain.kernel.errors import CityBrainError


class TooManyAttempts(CityBrainError):
    """Too many failed logins recently: 429 with Retry-After."""

    status, problem, title = 429, "too-many-attempts", "Too many attempts"


class LoginThrottle:
    """Counts failures per key in a sliding window; refuses once the key's limit is reached.

    Names (``name:...``) get ``limit``; client addresses (``addr:...``) get the larger
    ``addr_limit``, since behind a proxy many people share one address and a low limit there
    would let anyone lock everyone out.
    """

    def __init__(
        self,
        limit: int = 10,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        addr_limit: int = 200,
        what: str = "failed logins",
    ) -> None:
        self.limit = limit
        self.what = what
        self.addr_limit = addr_limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] >= self.window_s:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        """Raise TooManyAttempts if any key reached the limit within the window."""
        now = self._clock()
        with self._lock:
            for key in keys:
                q = self._recent(key, now)
                if len(q) >= (self.addr_limit if key.startswith("addr:") else self.limit):
                    wait = int(self.window_s - (now - q[0])) + 1
                    raise TooManyAttempts(
                        f"too many {self.what}; try again in {wait} s",
                        field="name" if key.startswith("name:") else None,
                        retry_after=wait,
                    )

    def failed(self, *keys: str) -> None:
        """Count one failure for each key."""
        now = self._clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # forget idle keys rather than grow without end
                for k in [k for k, q in self._failures.items() if not q]:
                    del self._failures[k]

    def succeeded(self, name_key: str) -> None:
        """A good login clears the name's count (not the address's)."""
        with self._lock:
            self._failures.pop(name_key, None)
