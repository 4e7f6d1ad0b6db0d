"""The "usable but not visible" (可用不可见) sandbox over a grant: ``POST
/sharing/grants/{id}/sandbox`` runs an aggregate query inside the hub; only aggregates leave.

The grant must be a sandbox grant, live, of the caller's organisation, for the purpose named;
every column the query names must be granted (otherwise a ledgered denial). Personal fields are
never groupable or aggregatable. A refused query (singling out, budget) is ledgered as a denial
naming the reason; a query that runs is logged with its fingerprint for supervision, and a
differentially private one is charged to the dataset's budget in the same transaction.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from citybrain.governance.privacy.budget import (
    DEFAULT_TOTAL_EPSILON,
    DbBudget,
    PrivacyBudgetRow,
    SandboxQueryLog,
    budget_row,
)
from citybrain.governance.privacy.sandbox import (
    AggregateQuery,
    SandboxPolicy,
    SandboxRefused,
    run_query,
)
from citybrain.governance.sharing import service
from citybrain.governance.sharing.api import load_grant
from citybrain.governance.sharing.models import Grant
from citybrain.governance.sharing.rows import compile_filter
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.service import dataset_resource, get_dataset
from citybrain.hub.ingest.models import DatasetRecord
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import GovernedDep
from citybrain.kernel.schemas import Input

MIN_GROUP = 10
NUMERIC = ("integer", "number")
router = APIRouter(tags=["sharing"])


class SandboxIn(Input):
    """An aggregate query and the purpose it serves."""

    purpose: str = Field(min_length=1, max_length=40)
    query: dict[str, Any] = Field(
        description='{"group_by": [...], "aggregates": [{"fn": "count"}, {"fn": "mean", '
        '"column": "age"}], "where": [{"column", "op", "value"}], "dp": {"epsilon": 0.5} | null}'
    )


class BudgetIn(Input):
    """A dataset's total privacy budget."""

    total_epsilon: float = Field(ge=0, le=100)


class BudgetOut(BaseModel):
    """A dataset's privacy budget."""

    dataset: str
    total_epsilon: float
    spent_epsilon: float
    remaining_epsilon: float


def sandbox_policy(ds: Dataset, grant: Grant) -> SandboxPolicy:
    """What a grant allows in the sandbox: non-personal granted fields to group and filter by,
    numeric ones to aggregate, their declared bounds for DP; core data only with DP."""
    meta = {f["name"]: f for f in ds.table_schema.get("fields", [])}
    plain = [f for f in grant.fields if not meta[f].get("pii") and not meta[f].get("sensitive_pii")]
    numeric = [f for f in plain if meta[f].get("type") in NUMERIC]
    bounds: dict[str, tuple[float, float]] = {}
    for name in numeric:
        c = meta[name].get("constraints", {})
        if "minimum" in c and "maximum" in c and c["minimum"] < c["maximum"]:
            bounds[name] = (float(c["minimum"]), float(c["maximum"]))
    return SandboxPolicy(
        groupable=frozenset(plain),
        aggregatable=frozenset(numeric),
        bounds=bounds,
        min_group=MIN_GROUP,
        require_dp=ds.grade == "core",
    )


def _named_columns(query: dict[str, Any]) -> list[str]:
    """Every column the query names (for the policy's fields check); malformed parts are left
    to the query parser, which names the field."""
    names: list[str] = []
    for key in ("group_by",):
        names += [c for c in query.get(key) or [] if isinstance(c, str)]
    for key in ("aggregates", "where"):
        for item in query.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("column"), str):
                names.append(item["column"])
    return names


def _rows(session: Any, grant: Grant) -> list[dict[str, Any]]:
    keep = compile_filter(grant.row_filter)
    payloads = session.scalars(
        select(DatasetRecord.payload).where(DatasetRecord.dataset_id == grant.dataset)
    )
    fields = grant.fields
    return [{f: p.get(f) for f in fields} for p in payloads if keep is None or keep(p)]


@router.post("/sharing/grants/{id}/sandbox")
def sandbox_query(id: int, body: SandboxIn, g: GovernedDep) -> dict[str, Any]:
    """Aggregates of the granted dataset (可用不可见): counts, sums and means by group, small
    groups suppressed, optionally with differentially private noise under the dataset's
    budget. Raw rows never leave."""
    query = AggregateQuery.from_dict(body.query)  # InvalidInput naming the field
    grant = load_grant(g, id, "sandbox.query")
    ctx = service.use_context(
        grant,
        organisation=g.caller.organisation,
        purpose=body.purpose,
        fields=_named_columns(body.query),
        mode="sandbox",
        now=g.runtime.clock(),
    )
    fingerprint = query.fingerprint()
    res = Resource("Dataset", grant.dataset, grant.provider)
    purpose = f"{service.ledger_purpose(grant, body.purpose)} · query {fingerprint[:16]}"
    try:
        with g.act("sandbox.query", res, purpose=purpose[:480], context=ctx) as session:
            ds = get_dataset(session, grant.dataset)
            result = run_query(
                query,
                _rows(session, grant),
                sandbox_policy(ds, grant),
                dataset_id=grant.dataset,
                budget=DbBudget(session, g.runtime.clock),
            )
            session.add(
                SandboxQueryLog(
                    grant_id=grant.id,
                    dataset=grant.dataset,
                    organisation=g.caller.organisation,
                    actor=g.caller.name,
                    fingerprint=fingerprint,
                    query=query.to_dict(),
                    epsilon=result.epsilon_spent,
                    rows_selected=result.rows_selected,
                    groups_released=len(result.rows),
                    at=g.runtime.clock(),
                )
            )
    except SandboxRefused as refused:
        g.runtime.gate.record_denial(
            g.caller,
            "sandbox.query",
            res,
            request_id=g.request_id,
            policy_ids=(f"sandbox-refused:{refused.reason}",),
            purpose=purpose[:480],
        )
        raise
    return result.to_dict()


def _budget_out(row: PrivacyBudgetRow) -> BudgetOut:
    return BudgetOut(
        dataset=row.dataset,
        total_epsilon=row.total,
        spent_epsilon=round(row.spent, 9),
        remaining_epsilon=round(max(0.0, row.total - row.spent), 9),
    )


@router.get("/sharing/budgets/{dataset}", response_model=BudgetOut)
def get_budget(dataset: str, g: GovernedDep) -> BudgetOut:
    """A dataset's privacy budget (ε) for differentially private sandbox queries."""
    with g.read(
        "share.list", dataset_resource(g.runtime.reader, dataset), purpose="privacy budget"
    ) as session:
        row = session.get(PrivacyBudgetRow, dataset)
        if row is None:  # not used yet: the default total, nothing spent
            return BudgetOut(
                dataset=dataset,
                total_epsilon=DEFAULT_TOTAL_EPSILON,
                spent_epsilon=0.0,
                remaining_epsilon=DEFAULT_TOTAL_EPSILON,
            )
        return _budget_out(row)


@router.put("/sharing/budgets/{dataset}", response_model=BudgetOut)
def set_budget(dataset: str, body: BudgetIn, g: GovernedDep) -> BudgetOut:
    """Set a dataset's total privacy budget (the provider or an operator)."""
    res = dataset_resource(g.runtime.reader, dataset)
    with g.act("privacy.budget", res, purpose=f"total ε {body.total_epsilon}") as session:
        row = budget_row(session, dataset, g.runtime.clock)
        row.total = body.total_epsilon
        row.updated_at = g.runtime.clock()
        session.flush()
        return _budget_out(row)
