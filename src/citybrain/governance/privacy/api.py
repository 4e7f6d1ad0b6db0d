"""Privacy routes: ``/privacy/...`` — personal information found in a dataset (profile, proposal,
confirmation into the catalogue) and k-anonymised releases for open-data publication.

Every route passes the gate on ``Dataset/<slug>`` (the provider's organisation), so the
provider's clerks act on their own datasets, operators on all, auditors read. A release of an
open-data dataset is readable by anyone, anonymous callers too (``privacy.release.open``, the
open-data fact brought as context); other releases only by the provider, operators and auditors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from citybrain.governance.privacy import proposals, releases
from citybrain.hub.catalogue.service import dataset_out
from citybrain.kernel.errors import NotFound
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import Governed, GovernedDep, PublicDep, is_anonymous
from citybrain.kernel.schemas import Input

GATE_ACTIONS: dict[str, str] = {
    "privacy.profile": "use",  # profile a dataset's records for personal information
    "privacy.proposal.read": "access",  # the latest proposal
    "privacy.proposal.confirm": "admin",  # write confirmed flags and grade into the catalogue
    "privacy.release.create": "use",  # k-anonymise a dataset's records into a release
    "privacy.release.read": "access",  # a release, by its provider, operators, auditors
    "privacy.release.open": "share",  # a release of open data, by anyone
}


def register_gate_actions() -> None:
    """Declare the privacy gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["privacy"])


class ConfirmIn(Input):
    """The provider's flags per column (``pii``, ``sensitive_pii`` or ``none``) and, optionally,
    the dataset's grade (core/important/general)."""

    columns: dict[str, str] = Field(
        default_factory=dict,
        max_length=1000,
        description='{"name": "pii", "id_number": "sensitive_pii", "phone": "none"}',
    )
    grade: str | None = Field(None, max_length=20, description="core/important/general or null")


class ReleaseIn(Input):
    """What to release: k, quasi-identifiers, optionally a sensitive column with l, the
    suppression limit and weight, and hierarchies for some quasi-identifiers."""

    k: int = Field(ge=2, le=100_000, description="every released row shares its QIs with k-1")
    qi: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=12, description="quasi-identifier columns"
    )
    sensitive: str | None = Field(None, max_length=200, description="column for l-diversity")
    l: int | None = Field(None, ge=2, le=1000, description="distinct sensitive values per class")  # noqa: E741
    max_suppression: float = Field(0.05, ge=0, lt=1, description="share of rows left out, at most")
    suppression_weight: float = Field(
        1,
        ge=1,
        le=1000,
        description="a suppressed (left out) row costs this many fully generalised rows in the "
        "objective; larger keeps more rows at the price of more generalisation",
    )
    hierarchies: dict[str, list[list[str]]] | None = Field(
        None,
        max_length=12,
        description='{"district": [["西湖区", "主城区", "*"], ...]}: value, levels, top "*"',
    )


def _dataset_facts(g: Governed, slug: str) -> tuple[Resource, bool]:
    """The gate resource of a dataset and whether it is open data (404 naming ``dataset``)."""
    with g.runtime.reader() as session:
        ds = proposals.get_dataset(session, slug)
        return Resource("Dataset", slug, ds.provider.code), ds.open_data


@router.post("/privacy/datasets/{dataset}/profile")
def profile(dataset: str, g: GovernedDep) -> dict[str, Any]:
    """Profile the dataset's most recent records (up to 1,000) for personal information and
    store the proposal: per column the finding, the catalogue's flag and the flag proposed;
    the grade proposed against the current one."""
    res, _ = _dataset_facts(g, dataset)
    with g.act("privacy.profile", res, purpose="profile personal information") as session:
        ds = proposals.get_dataset(session, dataset)
        proposal = proposals.profile_dataset(session, ds, trigger="manual", clock=g.runtime.clock)
        return proposals.proposal_view(proposal, ds)


@router.get("/privacy/datasets/{dataset}/proposal")
def get_proposal(dataset: str, g: GovernedDep) -> dict[str, Any]:
    """The latest proposal for the dataset (404 when it was never profiled)."""
    res, _ = _dataset_facts(g, dataset)
    with g.read("privacy.proposal.read", res, purpose="personal information proposal") as s:
        proposal = proposals.latest_proposal(s, dataset)
        if proposal is None:
            raise NotFound(f"dataset {dataset!r} has not been profiled", field="dataset")
        return proposals.proposal_view(proposal, proposals.get_dataset(s, dataset))


@router.post("/privacy/datasets/{dataset}/proposal/confirm")
def confirm_proposal(dataset: str, body: ConfirmIn, g: GovernedDep) -> dict[str, Any]:
    """Confirm (or override) the personal-information flags and the grade: the catalogue's
    Table Schema and grade change through the catalogue's own update (its version goes up,
    its rules apply: open data cannot hold personal information)."""
    res, _ = _dataset_facts(g, dataset)
    purpose = f"confirm flags of {len(body.columns)} columns" + (
        f", grade {body.grade}" if body.grade else ""
    )
    with g.act("privacy.proposal.confirm", res, purpose=purpose) as session:
        ds, proposal = proposals.confirm(
            session,
            dataset,
            body.columns,
            body.grade,
            actor=g.caller.name,
            clock=g.runtime.clock,
        )
        return {
            "dataset": dataset_out(ds).model_dump(mode="json", by_alias=True),
            "proposal": proposals.proposal_view(proposal, ds) if proposal else None,
        }


@router.post("/privacy/datasets/{dataset}/releases", status_code=201)
def create_release(dataset: str, body: ReleaseIn, g: GovernedDep) -> dict[str, Any]:
    """k-anonymise the dataset's records (optionally l-diverse) and store the release. Personal
    information columns that are neither QI nor sensitive are dropped (catalogue flags,
    values found by profiling, the primary key): direct identifiers never go out."""
    res, _ = _dataset_facts(g, dataset)
    params = releases.ReleaseParams(
        k=body.k,
        qi=list(body.qi),
        sensitive=body.sensitive,
        l_diversity=body.l,
        max_suppression=body.max_suppression,
        suppression_weight=body.suppression_weight,
        hierarchies=body.hierarchies,
    )
    purpose = f"k-anonymised release k={body.k} qi={','.join(body.qi)}"
    with g.act("privacy.release.create", res, purpose=purpose[:400]) as session:
        ds = proposals.get_dataset(session, dataset)
        release = releases.make_release(
            session, ds, params, actor=g.caller.name, clock=g.runtime.clock
        )
        return releases.release_summary(release)


def _release_read(g: Governed, release_id: int, as_csv: bool) -> dict[str, Any] | str:
    with g.runtime.reader() as session:
        release = releases.get_release(session, release_id)
    res, is_open = _dataset_facts(g, release.dataset)
    purpose = f"release {release_id}" + (" (csv)" if as_csv else "")
    if is_open:
        ctx = g.read("privacy.release.open", res, purpose=purpose, context={"open_data": True})
    elif is_anonymous(g):
        ctx = g.read("privacy.release.open", res, purpose=purpose, context={"open_data": False})
    else:
        ctx = g.read("privacy.release.read", res, purpose=purpose)
    with ctx as session:
        release = releases.get_release(session, release_id)
        if as_csv:
            return releases.release_csv(release)
        return releases.release_document(release, with_actor=not is_anonymous(g))


def _csv_response(release_id: int, text: str) -> Response:
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="release-{release_id}.csv"'},
    )


@router.get(
    "/privacy/releases/{id}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def release_as_csv(id: int, g: PublicDep) -> Response:
    """The released table as CSV (anyone for open data; otherwise provider, operators,
    auditors)."""
    text = _release_read(g, id, as_csv=True)
    assert isinstance(text, str)
    return _csv_response(id, text)


@router.get("/privacy/releases/{id}", responses={200: {"content": {"text/csv": {}}}})
def get_release(
    id: int,
    g: PublicDep,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> Any:
    """A release: parameters, report and rows (anyone for open data; otherwise provider,
    operators, auditors). ``?format=csv`` gives the CSV."""
    out = _release_read(g, id, as_csv=format == "csv")
    if isinstance(out, str):
        return _csv_response(id, out)
    return out


ROUTERS = (router,)
