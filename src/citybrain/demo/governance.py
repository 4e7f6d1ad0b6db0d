"""The demo city's governance: a housing bureau dataset about residents (with their ID numbers
as the data subject), shared with the health commission under masks (one read made), a sandbox
grant for the data bureau's statistics, a request left for the housing bureau to decide, and a
ten-year retention term — so that /sharing and /citizen show something on `citybrain up`.

Idempotent: when the dataset exists, nothing is done again. Every write passes the gate as the
local operator (``Gate.system``), one ledger entry per governed action.
"""

from __future__ import annotations

import random
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric

from citybrain.demo.city import DISTRICTS, ORG_BY_KEY
from citybrain.governance.citizen.service import record_uses
from citybrain.governance.retention.service import set_rule
from citybrain.governance.sharing import reads, service
from citybrain.governance.sharing.api import register_gate_actions
from citybrain.hub.catalogue import service as catalogue
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.schemas import DatasetIn
from citybrain.hub.ingest import service as ingest
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.i18n import t
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime

SLUG = "housing-subsidy-recipients"
RESIDENTS = 60
PURPOSE = "demo city seed: governance"
SCHEMA = {
    "fields": [
        {"name": "person_id", "type": "string", "title": "人员编号", "pii": True},
        {"name": "name", "type": "string", "title": "姓名", "pii": True},
        {"name": "id_number", "type": "string", "title": "身份证号码", "subject": True},
        {"name": "district", "type": "string", "title": "所在区"},
        {
            "name": "household_size",
            "type": "integer",
            "title": "家庭人口",
            "constraints": {"minimum": 1, "maximum": 10},
        },
        {
            "name": "subsidy",
            "type": "number",
            "title": "月补贴（元）",
            "constraints": {"minimum": 0, "maximum": 5000},
        },
    ],
    "primaryKey": ["person_id"],
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英"


@dataclass(frozen=True)
class GovernanceSummary:
    """What the governance seed created (all zero on a repeat run) and an ID number to try."""

    residents: int
    grants: int
    pending: int
    sample_id_number: str

    def describe(self, locale: str) -> str:
        """One line for the operator."""
        return t(
            "demo.governance.summary",
            locale,
            residents=self.residents,
            grants=self.grants,
            pending=self.pending,
            id_number=self.sample_id_number,
        )


def id_number(n: int) -> str:
    """A valid resident ID number (GB 11643) for demo resident ``n`` (Xihu district)."""
    body = f"330106{1950 + n % 50:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum wants a placeholder last digit


def residents_csv(seed: int) -> bytes:
    """The housing bureau's subsidy recipients, from the seed."""
    rng = random.Random(f"{seed}/housing")
    lines = ["person_id,name,id_number,district,household_size,subsidy"]
    for n in range(RESIDENTS):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(("", rng.choice(GIVEN)))
        lines.append(
            f"H{n:05d},{name},{id_number(n)},{DISTRICTS[n % len(DISTRICTS)].name},"
            f"{rng.randint(1, 6)},{rng.randrange(300, 2400, 50)}"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def _dataset_body(provider: str) -> DatasetIn:
    return DatasetIn.model_validate(
        {
            "id": SLUG,
            "title_zh": "住房保障对象名单",
            "title_en": "Housing subsidy recipients",
            "description_zh": "享受公共租赁住房补贴的家庭及月补贴金额。",
            "description_en": "Households receiving public rental housing subsidies, with amounts.",
            "provider_code": provider,
            "theme": "social-security",
            "keywords_zh": ["住房保障", "补贴"],
            "keywords_en": ["housing", "subsidy"],
            "update_frequency": "P1M",
            "schema": SCHEMA,
            "grade": "important",
            "sharing": "conditional",
            "open_data": False,
        }
    )


def seed_governance(runtime: Runtime, *, seed: int, now: datetime) -> GovernanceSummary:
    """Create the governance demo once; a second run does nothing."""
    register_gate_actions()
    register_action("retention.set", "admin")
    sample = id_number(0)
    with runtime.reader() as session:
        if session.scalar(select(Dataset.id).where(Dataset.slug == SLUG)) is not None:
            return GovernanceSummary(0, 0, 0, sample)
    city = runtime.settings.city_code
    housing, health = ORG_BY_KEY["housing"].code, ORG_BY_KEY["health"].code
    bureau, emergency = ORG_BY_KEY["data-bureau"].code, ORG_BY_KEY["emergency"].code
    res = Resource("Dataset", SLUG, housing)

    def system(
        action: str, purpose: str = PURPOSE, request_id: str = f"demo-gov-{seed}"
    ) -> AbstractContextManager[Session]:
        return runtime.gate.system(
            SYSTEM_ACTOR, city, action, res, request_id=request_id, purpose=purpose
        )

    with system("catalog.write") as s:
        catalogue.create_dataset(s, _dataset_body(housing), SYSTEM_ACTOR, clock=lambda: now)
    data = residents_csv(seed)
    with system("dataset.collect") as s:
        ingest.ingest_batch(
            s,
            dataset_id=SLUG,
            schema=SCHEMA,
            organisation=housing,
            actor=SYSTEM_ACTOR,
            data=data,
            fmt="csv",
            source="demo:住房保障对象",
            signature_b64=None,
            encoding="utf-8",
            ledger_seq=runtime.ledger.size(s) - 1,
            clock=runtime.clock,
        )
    asks = (
        (health, "public-health", "困难家庭慢病随访", ["id_number", "name", "district"], "records"),
        (
            bureau,
            "statistics",
            "各区住房保障统计",
            ["district", "household_size", "subsidy"],
            "sandbox",
        ),
        (emergency, "emergency", "防汛转移安置名单核对", ["name", "district"], "records"),
    )
    made = []
    for org, purpose, text, fields, mode in asks:
        with system("share.request", f"request {purpose}") as s:
            ds = catalogue.get_dataset(s, SLUG)
            body = service.RequestInput(SLUG, fields, purpose, text, term_days=180, mode=mode)
            req = service.submit(
                s, ds, requester=org, actor=SYSTEM_ACTOR, body=body, clock=runtime.clock
            )
            made.append(req.id)
    masks = {"id_number": "SHOW_LAST_4", "name": "MASK"}
    decisions = (service.Decision(True, masks=masks), service.Decision(True))
    for request_id, decision in zip(made[:2], decisions, strict=True):
        with system("share.decide", f"approve request {request_id}") as s:
            req = service.get_request(s, request_id)
            ds = catalogue.get_dataset(s, SLUG)
            service.decide(s, ds, req, actor=SYSTEM_ACTOR, decision=decision, clock=runtime.clock)
    read_id = f"demo-gov-read-{seed}"
    with system("data.read", "grant read by the health commission", read_id) as s:
        req = service.get_request(s, made[0])
        grant = service.get_grant(s, req.grant_id or 0)
        subjects: list[object] = ["id_number"]
        reads.read_records(s, grant, grant.fields, after=0, limit=20, subjects=subjects)
        record_uses(
            s,
            subjects,
            request_id=read_id,
            dataset=SLUG,
            organisation=health,
            actor="demo:health-his",
            action="share",
            purpose=service.ledger_purpose(grant, "public-health"),
            now=runtime.clock(),
            grant_id=grant.id,
        )
    with system("retention.set", "retention 3650 d") as s:
        reason = "《公共租赁住房管理办法》档案保存"
        set_rule(s, SLUG, 3650, actor=SYSTEM_ACTOR, reason=reason, clock=runtime.clock)
    return GovernanceSummary(RESIDENTS, 2, 1, sample)
