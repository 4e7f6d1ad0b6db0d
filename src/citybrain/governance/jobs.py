"""Governance's scheduled work: lapse unanswered share requests, destroy expired records."""

from __future__ import annotations

from citybrain.governance.retention.service import run_all
from citybrain.governance.sharing.sweeper import sweep
from citybrain.kernel.periodic import Periodic
from citybrain.kernel.runtime import Runtime


def run_governance_jobs(runtime: Runtime) -> None:
    """One pass of every governance job."""
    sweep(runtime)
    run_all(runtime)


def governance_jobs(runtime: Runtime, interval_s: float = 300.0) -> Periodic:
    """The jobs every ``interval_s`` seconds in a daemon thread."""
    return Periodic("governance-jobs", lambda: run_governance_jobs(runtime), interval_s)
