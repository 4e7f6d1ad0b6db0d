"""The periodic runner: runs at once, again each interval, survives a failing run, stops."""

from __future__ import annotations

import threading

from citybrain.kernel.periodic import Periodic


def test_runs_repeatedly_survives_failures_and_stops() -> None:
    calls: list[int] = []
    third = threading.Event()

    def job() -> None:
        calls.append(len(calls))
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    runner = Periodic("test-periodic", job, interval_s=0.01)
    runner.start()
    runner.start()  # a second start does not start a second thread
    assert third.wait(5)
    runner.stop()
    stopped_at = len(calls)
    assert stopped_at >= 3
    threading.Event().wait(0.05)
    assert len(calls) == stopped_at
    assert [t.name for t in threading.enumerate()].count("test-periodic") == 0
