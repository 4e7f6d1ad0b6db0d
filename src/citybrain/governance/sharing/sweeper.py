"""The sharing sweeper: marks requests whose provider let the SLA pass as lapsed, ledgered as
one system action per sweep that finds any (none when there is nothing to do)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from citybrain.governance.sharing.models import ShareRequest
from citybrain.governance.sharing.service import lapse_overdue
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime


def sweep(runtime: Runtime, now: datetime | None = None) -> list[int]:
    """Lapse overdue requests; returns their ids."""
    now = now or runtime.clock()
    overdue = (ShareRequest.status == "pending", ShareRequest.sla_due_at <= now)
    with runtime.reader() as session:
        if not session.scalar(select(func.count(ShareRequest.id)).where(*overdue)):
            return []
    register_action("share.lapse", "share")
    with runtime.gate.system(
        SYSTEM_ACTOR,
        runtime.settings.city_code,
        "share.lapse",
        Resource("Sharing", "sla"),
        request_id=f"sharing-sla-{now:%Y%m%dT%H%M%S}",
        purpose="requests not answered within the SLA",
    ) as session:
        return [r.id for r in lapse_overdue(session, now)]
