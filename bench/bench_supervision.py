"""Detection latency: from a ledger append to its finding, while the ledger grows at a set rate.

Prints one JSON object. Usage: python bench/bench_supervision.py [--rate 5000] [--seconds 20]
[--pg URL|none] [--tick-ms 10] [--writer-process]

A writer thread appends ordinary reads (spread over 200 clerks, under every rule's threshold)
in batches every ``--tick-ms`` (10 ms), as the group committer does, and announces each batch
on the bus as the gate does (with ``--writer-process`` it writes from another process, as API
workers do, and the detector finds the entries by polling); every 0.25 s one of the entries
is a denied read without a live grant (a finding of rule ``read-without-live-grant``). The
detector runs as in ``citybrain up``: the background service woken by the bus, polling every
0.25 s otherwise. Latency = the finding's
``detected_at`` minus the wall time its entry's transaction committed. Also reported: the rate
actually appended, the detector's backlog at the end, and — the baseline, same process — how
fast the detector reads a backlog of the same entries with nobody writing (entries/s).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from citybrain.governance.supervision.detector import DetectorService, detector_of
from citybrain.governance.supervision.models import DetectorCursor, Finding
from citybrain.kernel.config import load_settings
from citybrain.kernel.events import GovernedActionRecorded
from citybrain.kernel.runtime import Runtime
from citybrain.ledger.entry import EntryData

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _entry(i: int, bad: bool) -> EntryData:
    return EntryData(
        actor=f"clerk{i % 200}",
        organisation="11330100000000402E",
        action="share",
        resource=f"Dataset/ds-{i % 17}",
        purpose=f"data.read: grant {i % 50 + 1} · public-health",
        decision="deny" if bad else "allow",
        policy_ids=(
            ("sharing-no-use-without-live-grant@v1",)
            if bad
            else ("sharing-use-through-live-grant@v1",)
        ),
        request_id=f"bench-{i}",
    )


def _open(db: str | None) -> tuple[Runtime, Any]:
    tmp = tempfile.TemporaryDirectory()
    kwargs: dict[str, Any] = {"data_dir": Path(tmp.name)}
    if db:
        from tests.conftest import PgSchema

        schema = PgSchema("bench_sup_")
        kwargs["db"] = schema.url
        tmp.schema = schema  # type: ignore[attr-defined]
    rt = Runtime.open(load_settings(environ={}, **kwargs))
    rt.migrate()
    rt.bootstrap()
    return rt, tmp


def write_for(
    rt: Runtime, rate: int, seconds: float, tick_s: float, publish: bool
) -> tuple[dict[str, datetime], int, float]:
    """Append at ``rate`` for ``seconds`` in batches every ``tick_s``; returns the commit time
    of each violation (by finding key), how many entries were appended, and the time taken."""
    per_batch = max(1, round(rate * tick_s))
    commits: dict[str, datetime] = {}
    appended, t0 = 0, time.monotonic()
    stop_at = t0 + seconds
    i, next_bad, tick = 0, t0, t0
    while time.monotonic() < stop_at:
        batch, bad_idx = [], -1
        for _ in range(per_batch):
            bad = time.monotonic() >= next_bad and bad_idx < 0
            if bad:
                bad_idx, next_bad = len(batch), next_bad + 0.25
            batch.append(_entry(i, bad))
            i += 1
        with rt.factory.begin() as s:
            done = rt.ledger.append_many(s, batch)
        committed = datetime.now(UTC)
        if bad_idx >= 0:
            commits[f"seq:{done[bad_idx].seq}"] = committed
        appended += len(batch)
        if publish:  # in-process: wake the detector as the gate does
            e = batch[-1]
            rt.bus.publish(
                GovernedActionRecorded(
                    actor=e.actor,
                    organisation=e.organisation,
                    action=e.action,
                    resource=e.resource,
                    decision=e.decision,
                    policy_ids=list(e.policy_ids),
                    request_id=e.request_id,
                )
            )
        tick += tick_s
        time.sleep(max(0.0, tick - time.monotonic()))
    return commits, appended, time.monotonic() - t0


def _writer_process(
    url: str, data_dir: str, rate: int, seconds: float, tick_s: float, out: Any
) -> None:
    """The writer in its own process (as API workers are): no shared interpreter lock."""
    rt = Runtime.open(load_settings(environ={}, data_dir=Path(data_dir), db=url))
    try:
        out.put(write_for(rt, rate, seconds, tick_s, publish=False))
    finally:
        rt.close()


def run(
    db: str | None, rate: int, seconds: float, tick_s: float = 0.01, process: bool = False
) -> dict[str, Any]:
    """One measurement on one database."""
    rt, tmp = _open(db)
    service = DetectorService(rt, poll_s=0.25, sweep_s=3600).start()
    if process:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        args = (rt.settings.database_url, str(rt.settings.data_dir), rate, seconds, tick_s, out)
        child = ctx.Process(target=_writer_process, args=args)
        child.start()
        commits, appended, elapsed = out.get()
        child.join()
    else:
        commits, appended, elapsed = write_for(rt, rate, seconds, tick_s, publish=True)
    time.sleep(2.0)  # let the detector finish what it has
    service.stop()
    with rt.reader() as s:
        size = rt.ledger.size(s)
        cursor = s.get(DetectorCursor, "main")
        backlog = size - (cursor.next_seq if cursor else 0)
        found = dict(
            s.execute(
                select(Finding.key, Finding.detected_at).where(
                    Finding.rule_code == "read-without-live-grant"
                )
            ).all()
        )
    lat = sorted(
        (found[k].replace(tzinfo=UTC) - t).total_seconds() for k, t in commits.items() if k in found
    )
    # baseline: the same detector reading the same ledger again from the start, nobody writing
    with rt.factory.begin() as s:
        s.get(DetectorCursor, "main").next_seq = 0
    detector = detector_of(rt)
    detector.reset()
    t1 = time.monotonic()
    replay = detector.catch_up()
    replay_s = time.monotonic() - t1
    rt.close()
    if db:
        tmp.schema.drop()  # type: ignore[attr-defined]
    tmp.cleanup()

    def q(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 4) if lat else None

    return {
        "database": "postgresql" if db else "sqlite",
        "target_rate": rate,
        "appended": appended,
        "append_rate": round(appended / elapsed),
        "violations": len(commits),
        "detected": len(lat),
        "latency_s": {
            "p50": q(0.5),
            "p95": q(0.95),
            "p99": q(0.99),
            "max": round(lat[-1], 4) if lat else None,
            "mean": round(statistics.fmean(lat), 4) if lat else None,
        },
        "backlog_at_end": backlog,
        "replay_entries_per_s": round(replay.read / replay_s) if replay_s else None,
        "writer_tick_ms": round(tick_s * 1000, 1),
        "writer": "own process (detector polls every 0.25 s)" if process else "same process",
        "goal": "p99 < 1 s at 5,000 entries/s",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL, or 'none'")
    ap.add_argument("--tick-ms", type=float, default=10.0, help="the writer commits this often")
    ap.add_argument(
        "--writer-process", action="store_true", help="append from another process (no bus)"
    )
    args = ap.parse_args()
    tick, proc = args.tick_ms / 1000, args.writer_process
    results = [run(None, args.rate, args.seconds, tick, proc)]
    if args.pg != "none":
        results.append(run(args.pg, args.rate, args.seconds, tick, proc))
    print(json.dumps({"bench": "supervision_detection", "results": results}, indent=2))


if __name__ == "__main__":
    main()
