"""Live traffic: a small signalised grid run in accelerated real time, for the demo city.

:class:`LiveTraffic` builds (once, into a folder) a 3×3 grid of 200 m blocks with netgenerate —
traffic lights at the nine inner junctions, two lanes each way, 150 m feeder roads — and runs it
**in a separate process** (``multiprocessing`` *spawn*: libsumo allows one simulation per
process, and the server process must stay clean) under ``make_controller("citybrain")``.

Time. Simulation time is seconds since local midnight (Hangzhou, UTC+8) of the start day: the
run begins at the local time of day of ``start``, after a 5-minute warm-up run flat out so the
first snapshot sees a filled network, and then keeps ``speed`` simulated seconds per wall second
(default 10). Vehicles stuck for 5 minutes are teleported (SUMO's own rule), so a rare gridlock
cannot freeze a demo that runs for days, and every simulated week SUMO restarts where it was
(same time of day, new warm-up) so that its clock stays small.

Demand. Trips between the grid's feeder roads, generated minute by minute: the count for
simulated minute *k* is Poisson with the time-of-day rate :func:`demand_rate` (vehicles per hour,
heaviest at the 08:00 and 18:00 rush hours) and every draw comes from ``Random(seed/k)``, so the
same seed and start replay exactly. Each trip drives the free-flow shortest route.

What the child reports on its queue (plain dicts):

- ``{"kind": "snapshot", ...}`` every 60 simulated seconds: the simulated time, per intersection
  its tls id, current green-phase index, the signal state shown, the driver's mode and the halted
  vehicles per incoming lane; per incoming lane a detector reading (vehicles, halted, mean speed
  m/s, free-flow speed); the congestion index; the last ambulance's report (or None).
- ``{"kind": "emergency", ...}`` when an ambulance arrives (see below).
- ``{"kind": "error", "error": ...}`` when the simulation fails; the child then exits.

Congestion index (拥堵指数, in its travel-time-ratio form: 实际行程时间 ÷ 自由流行程时间).
At every simulation step, over the edges *e* with vehicles on them — *n_e* vehicles, length
*L_e*, speed limit *v_e*, mean vehicle speed *u_e* — the free-flow time is *F_e = L_e / v_e*
and the actual time *T_e = L_e / clamp(u_e, 1 m/s, v_e)*; summed over the steps *t* of the
minute before the snapshot::

    CI = Σ_t Σ_e n_e·T_e / Σ_t Σ_e n_e·F_e        (1.0 when no vehicle was on the road)

i.e. the vehicle-weighted actual travel time over the free-flow travel time of the same
vehicles on the same edges. It is ≥ 1.0 by construction (a vehicle above the limit counts at
the limit) and bounded by v_max / 1 m/s (a stopped queue counts as crawling at 1 m/s, so one
jam cannot make it infinite). On this grid it is about 1.1 at night and 1.8 at rush hour.

Ambulances. When the live run begins and then every 10 simulated minutes, if none is on the
road, one is dispatched with :func:`~.emergency.dispatch` and a :class:`~.emergency.GreenWave`
(priority on). When it arrives its travel time (departure to arrival) is reported with an
**estimate** of the time saved: the route's expected travel time at dispatch, summed from
SUMO's current edge travel times (``edge.getTraveltime``, over the route's edges and the
junction passages between them, each floored at the same 1 m/s crawl) minus the actual time.
It is only an estimate — nobody drove the same trip without priority — and it can be
negative: on empty roads edge times leave out accelerating from the start and slowing for
turns, so they undercount by several seconds.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCAL_OFFSET_S = 8 * 3600  # Asia/Shanghai, no daylight saving
DEFAULT_SPEED = 10.0
SNAPSHOT_EVERY_S = 60.0
AMBULANCE_EVERY_S = 600.0
QUEUE_SIZE = 64
FLUSH_S = 2.0


def local_seconds(t: datetime) -> float:
    """Seconds since local midnight (UTC+8) of the aware datetime ``t``."""
    return (t.timestamp() + LOCAL_OFFSET_S) % 86400


def run_live(config: dict[str, Any], out: Any, stop: Any) -> None:
    """The child process's entry point: simulate, send every message to ``out`` (a queue)."""
    from citybrain.scenarios.traffic.live_grid import simulate

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle

    def put(message: dict[str, Any]) -> None:
        with contextlib.suppress(queue.Full):  # nobody reads: drop rather than block
            out.put_nowait(message)

    try:
        simulate(config, put, stop)
    except Exception as exc:
        log.exception("live traffic simulation failed")
        put({"kind": "error", "error": " ".join(str(exc).split()) or type(exc).__name__})
        raise SystemExit(1) from None
    finally:
        _flush(out)


def _flush(out: Any) -> None:
    """Deliver what is queued if the parent reads it soon; never hang the exit over it."""
    out.close()
    waiter = threading.Thread(target=out.join_thread, daemon=True)
    waiter.start()
    waiter.join(FLUSH_S)
    out.cancel_join_thread()


class LiveTraffic:
    """The live grid in a child process (see the module docstring).

    ``on_message`` gets every message of the child (snapshots and ambulance reports) on a
    reader thread of this process; without it, take them with :meth:`get`. A failure of the
    child is logged here and ends the live traffic, never the caller.
    """

    def __init__(
        self,
        folder: Path,
        *,
        seed: int,
        start: datetime,
        speed: float = DEFAULT_SPEED,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        snapshot_every_s: float = SNAPSHOT_EVERY_S,
        ambulance_every_s: float = AMBULANCE_EVERY_S,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.folder = Path(folder)
        self.config: dict[str, Any] = {
            "folder": str(self.folder),
            "seed": seed,
            "speed": speed,
            "begin_s": float(int(local_seconds(start))),
            "snapshot_every_s": snapshot_every_s,
            "ambulance_every_s": ambulance_every_s,
            "controller": "citybrain",
        }
        self.on_message = on_message
        self._ctx = mp.get_context("spawn")
        self._queue: Any = None
        self._stop: Any = None
        self._process: Any = None
        self._reader: threading.Thread | None = None
        self._closing = threading.Event()
        self.error: str | None = None

    def start(self) -> LiveTraffic:
        """Start the child process (and the reader thread when ``on_message`` is given)."""
        if self.running:
            return self
        self._queue = self._ctx.Queue(QUEUE_SIZE)
        self._stop = self._ctx.Event()
        self._closing.clear()
        self._process = self._ctx.Process(
            target=run_live,
            args=(self.config, self._queue, self._stop),
            name="citybrain-live-traffic",
            daemon=True,
        )
        self._process.start()
        if self.on_message is not None:
            self._reader = threading.Thread(
                target=self._read, name="citybrain-live-traffic-reader", daemon=True
            )
            self._reader.start()
        return self

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The child's next message (None after ``timeout`` seconds); errors are logged too."""
        try:
            message: dict[str, Any] = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if message.get("kind") == "error":
            self._failed(message["error"])
        return message

    def _failed(self, error: str) -> None:
        self.error = error
        log.error("live traffic simulation failed: %s", error)

    def _read(self) -> None:
        while not self._closing.is_set():
            try:
                message = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._process is not None and not self._process.is_alive():
                    code = self._process.exitcode
                    if code not in (0, None) and self.error is None:
                        self._failed(f"the simulation process exited with code {code}")
                    return
                continue
            if message.get("kind") == "error":
                self._failed(message["error"])
                continue
            try:
                self.on_message(message)  # type: ignore[misc]
            except Exception:  # a failing consumer must not stop the simulation
                log.exception("live traffic: handling a %s failed", message.get("kind"))

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        """The child's process id (None before start)."""
        return None if self._process is None else self._process.pid

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child (it closes SUMO), terminating it if it does not stop in time."""
        process = self._process
        if process is None:
            return
        self._stop.set()
        process.join(timeout)
        if process.is_alive():
            log.warning("live traffic: the simulation did not stop in %s s, terminating", timeout)
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        self._closing.set()
        if self._reader is not None:
            self._reader.join(timeout)
            self._reader = None
        process.close()
        self._queue.close()
        self._queue.cancel_join_thread()
        self._process = None
