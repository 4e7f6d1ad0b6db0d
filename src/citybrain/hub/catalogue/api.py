"""Catalogue routes: ``/catalog/...`` (token required), the DCAT-AP export and the CKAN action
API subset (open data without a token, everything the caller may read with one). Thin.

Every route passes the gate. Callers without a token act as the ``public:anonymous`` principal
(role ``public``, which no post can hold) and may only use ``catalog.open``, whose policy
permits reads limited to open data.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ConfigDict, Field
from sqlalchemy.orm import Session

from citybrain.hub.catalogue import ckan, dcat, service
from citybrain.hub.catalogue.models import PublishedApi
from citybrain.hub.catalogue.schemas import (
    ApiIn,
    ApiOut,
    DatasetBody,
    DatasetIn,
    DatasetOut,
    SearchHit,
    ThemeOut,
    VersionOut,
)
from citybrain.kernel.errors import CityBrainError, InvalidInput
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import (
    CursorQuery,
    Governed,
    GovernedDep,
    LimitQuery,
    Page,
    PublicDep,
    get_runtime,
    is_anonymous,
    keyset_page,
)
from citybrain.kernel.runtime import Runtime
from citybrain.kernel.schemas import Input

GATE_ACTIONS: dict[str, str] = {
    "catalog.read": "access",  # catalogue metadata, signed-in callers
    "catalog.write": "admin",  # register or edit datasets and published APIs
    "catalog.open": "access",  # open-data metadata, anyone (DCAT, CKAN)
}


def register_gate_actions() -> None:
    """Declare the catalogue's gate actions (idempotent; until the kernel wires them itself)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["catalogue"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
TextQuery = Annotated[str | None, Query(max_length=200)]


def catalogue_read(g: Governed, what: str, purpose: str = "") -> AbstractContextManager[Session]:
    """A gated read of catalogue-wide metadata: ``catalog.open`` (open data only) when
    anonymous, ``catalog.read`` otherwise."""
    res = Resource("Catalogue", what)
    if is_anonymous(g):
        return g.read("catalog.open", res, purpose=purpose, context={"open_data": True})
    return g.read("catalog.read", res, purpose=purpose)


def _provider(runtime: Runtime, slug: str) -> str:
    with runtime.reader() as session:
        return service.provider_of(session, slug)


@router.get("/catalog/themes", response_model=list[ThemeOut])
def list_themes(g: GovernedDep) -> list[ThemeOut]:
    """The city themes, with Chinese and English labels."""
    with g.read("catalog.read", Resource("Catalogue", "themes")):
        return service.themes()


@router.get("/catalog/datasets", response_model=Page[SearchHit])
def list_datasets(
    g: GovernedDep,
    theme: TextQuery = None,
    org: TextQuery = None,
    grade: TextQuery = None,
    sharing: TextQuery = None,
    open_: Annotated[bool | None, Query(alias="open")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[SearchHit]:
    """Datasets in registration order, filtered by theme, provider, grade, sharing, open flag."""
    with g.read("catalog.read", Resource("Catalogue", "datasets")) as session:
        return service.search(
            session,
            theme=theme,
            org=org,
            grade=grade,
            sharing=sharing,
            open_data=open_,
            cursor=cursor,
            limit=limit,
        )


@router.post("/catalog/datasets", response_model=DatasetOut, status_code=201)
def create_dataset(body: DatasetIn, g: GovernedDep) -> DatasetOut:
    """Register a dataset (its provider organisation must exist)."""
    res = Resource("Dataset", body.id, body.provider_code)
    with g.act("catalog.write", res, purpose="register dataset") as session:
        ds = service.create_dataset(session, body, g.caller.name, g.runtime.clock)
        return service.dataset_out(ds)


@router.get("/catalog/datasets/{id}", response_model=DatasetOut)
def get_dataset(id: str, g: GovernedDep) -> DatasetOut:
    """One dataset."""
    res = Resource("Dataset", id, _provider(g.runtime, id))
    with g.read("catalog.read", res) as session:
        return service.dataset_out(service.get_dataset(session, id))


@router.put("/catalog/datasets/{id}", response_model=DatasetOut)
def update_dataset(id: str, body: DatasetBody, g: GovernedDep) -> DatasetOut:
    """Replace a dataset's metadata; its version goes up by one and the old one is kept."""
    res = Resource("Dataset", id, _provider(g.runtime, id))
    with g.act("catalog.write", res, purpose="edit dataset") as session:
        ds = service.update_dataset(session, id, body, g.caller.name, g.runtime.clock)
        return service.dataset_out(ds)


@router.get("/catalog/datasets/{id}/versions", response_model=list[VersionOut])
def dataset_versions(id: str, g: GovernedDep) -> list[VersionOut]:
    """Every kept version of a dataset's metadata, oldest first."""
    res = Resource("Dataset", id, _provider(g.runtime, id))
    with g.read("catalog.read", res, purpose="versions") as session:
        return [
            VersionOut(
                version=v.version,
                modified=v.modified_at,
                modified_by=v.modified_by,
                snapshot=v.snapshot,
            )
            for v in service.versions(session, id)
        ]


@router.get("/catalog/search", response_model=Page[SearchHit])
def search_datasets(
    g: GovernedDep,
    q: TextQuery = None,
    theme: TextQuery = None,
    org: TextQuery = None,
    grade: TextQuery = None,
    sharing: TextQuery = None,
    open_: Annotated[bool | None, Query(alias="open")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[SearchHit]:
    """Search titles, descriptions and keywords (zh and en; 交通 finds 交通信号灯配时)."""
    with g.read("catalog.read", Resource("Catalogue", "search"), purpose="search") as session:
        return service.search(
            session,
            q=q,
            theme=theme,
            org=org,
            grade=grade,
            sharing=sharing,
            open_data=open_,
            cursor=cursor,
            limit=limit,
        )


@router.get("/catalog/apis", response_model=Page[ApiOut])
def list_apis(
    g: GovernedDep, org: TextQuery = None, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[ApiOut]:
    """Published APIs, optionally of one owner organisation."""
    with g.read("catalog.read", Resource("Catalogue", "apis")) as session:
        stmt = service.list_apis_stmt(org)
        return keyset_page(session, stmt, PublishedApi.id, cursor, limit, service.api_out)


@router.post("/catalog/apis", response_model=ApiOut, status_code=201)
def create_api(body: ApiIn, g: GovernedDep) -> ApiOut:
    """Register an API a department publishes."""
    res = Resource("Api", body.id, body.owner_code)
    with g.act("catalog.write", res, purpose="register API") as session:
        return service.api_out(service.create_api(session, body, g.caller.name, g.runtime.clock))


@router.get(
    "/catalog/dcat",
    response_class=JSONResponse,
    responses={200: {"content": {"application/ld+json": {}}}},
)
def dcat_export(request: Request, g: PublicDep) -> JSONResponse:
    """The catalogue as DCAT-AP 3 JSON-LD (without a token: the open datasets only)."""
    anonymous = is_anonymous(g)
    with catalogue_read(g, "dcat", purpose="DCAT-AP export") as session:
        root = g.runtime.root_organisation(session)
        doc = dcat.catalogue_document(session, str(request.base_url), root, open_only=anonymous)
    return JSONResponse(doc, media_type="application/ld+json")


class CkanRoute(APIRoute):
    """A route answering in CKAN's envelope: every error (including a bad token, a refused
    query parameter or a policy denial, all ledgered as usual) becomes ``success: false``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the normal handler to turn errors into CKAN error envelopes."""
        original = super().get_route_handler()
        action = self.path.rsplit("/", 1)[-1]

        async def handler(request: Request) -> Response:
            base = str(request.base_url)
            try:
                return await original(request)
            except CityBrainError as exc:
                status = 409 if exc.status == 422 else exc.status  # CKAN's validation status
                return JSONResponse(ckan.error_envelope(action, base, exc), status_code=status)
            except RequestValidationError as exc:
                errors = exc.errors()
                if any(e.get("type") == "json_invalid" for e in errors):
                    bad: CityBrainError = InvalidInput("the body is not valid JSON", field="body")
                    bad.status = 400
                else:
                    loc = [str(p) for p in errors[0].get("loc", ()) if p not in ("body", "query")]
                    bad = InvalidInput(
                        errors[0].get("msg", "invalid"), field=".".join(loc) or "body"
                    )
                    bad.status = 409
                return JSONResponse(ckan.error_envelope(action, base, bad), status_code=bad.status)

        return handler


_CKAN_ERROR = {"description": "CKAN error envelope (success: false)"}
ckan_router = APIRouter(
    tags=["ckan"],
    route_class=CkanRoute,
    responses={code: _CKAN_ERROR for code in (400, 401, 403, 404, 409)},
)
ACTION_PREFIXES = ("/api/3/action/", "/api/action/")  # ckanapi uses the unversioned one


class CkanSearchIn(Input):
    """``package_search`` parameters as CKAN clients POST them."""

    model_config = ConfigDict(strict=True)

    q: str | None = Field(None, max_length=200)
    fq: str | None = Field(None, max_length=200)
    rows: int = Field(10, ge=0, le=1000)
    start: int = Field(0, ge=0, le=1_000_000)
    sort: str | None = Field(None, max_length=200, description="accepted; results rank by score")
    include_private: bool = Field(False, description="accepted; visibility follows the token")


class CkanShowIn(Input):
    """``package_show`` parameters."""

    model_config = ConfigDict(strict=True)

    id: str = Field(min_length=1, max_length=100)
    use_default_schema: bool = False
    include_tracking: bool = False


class CkanOrgListIn(Input):
    """``organization_list`` parameters."""

    model_config = ConfigDict(strict=True)

    all_fields: bool = False
    limit: int = Field(1000, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=1_000_000)
    sort: str | None = Field(None, max_length=100, description="accepted; sorted by name")


def _package_search(request: Request, g: Governed, p: CkanSearchIn) -> dict[str, Any]:
    base = str(request.base_url)
    with catalogue_read(g, "ckan", purpose="package_search") as session:
        result = ckan.package_search(
            session, base, q=p.q, fq=p.fq, rows=p.rows, start=p.start, open_only=is_anonymous(g)
        )
    return ckan.envelope("package_search", base, result)


def _package_show(request: Request, g: Governed, p: CkanShowIn) -> dict[str, Any]:
    base = str(request.base_url)
    with g.runtime.reader() as session:
        ds = service.get_dataset(session, p.id)
        provider, is_open = ds.provider.code, ds.open_data
    res = Resource("Dataset", p.id, provider)
    if is_anonymous(g):
        ctx = g.read("catalog.open", res, purpose="package_show", context={"open_data": is_open})
    else:
        ctx = g.read("catalog.read", res, purpose="package_show")
    with ctx as session:
        result = ckan.package_dict(service.get_dataset(session, p.id), base)
    return ckan.envelope("package_show", base, result)


def _organization_list(request: Request, g: Governed, p: CkanOrgListIn) -> dict[str, Any]:
    base = str(request.base_url)
    with catalogue_read(g, "ckan", purpose="organization_list") as session:
        result = ckan.organization_list(
            session,
            all_fields=p.all_fields,
            open_only=is_anonymous(g),
            limit=p.limit,
            offset=p.offset,
        )
    return ckan.envelope("organization_list", base, result)


def ckan_package_search_get(
    request: Request,
    g: PublicDep,
    q: TextQuery = None,
    fq: TextQuery = None,
    rows: Annotated[int, Query(ge=0, le=1000)] = 10,
    start: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: TextQuery = None,
    include_private: bool = False,
) -> dict[str, Any]:
    """CKAN ``package_search`` (q, fq=organization:NAME, rows, start)."""
    params = CkanSearchIn(
        q=q, fq=fq, rows=rows, start=start, sort=sort, include_private=include_private
    )
    return _package_search(request, g, params)


def ckan_package_search_post(
    request: Request, g: PublicDep, body: CkanSearchIn | None = None
) -> dict[str, Any]:
    """CKAN ``package_search`` with a JSON body (as ckanapi sends it)."""
    return _package_search(request, g, body or CkanSearchIn())


def ckan_package_show_get(
    request: Request,
    g: PublicDep,
    id: Annotated[str, Query(min_length=1, max_length=100)],
    use_default_schema: bool = False,
    include_tracking: bool = False,
) -> dict[str, Any]:
    """CKAN ``package_show?id=``."""
    return _package_show(request, g, CkanShowIn(id=id))


def ckan_package_show_post(request: Request, g: PublicDep, body: CkanShowIn) -> dict[str, Any]:
    """CKAN ``package_show`` with a JSON body."""
    return _package_show(request, g, body)


def ckan_organization_list_get(
    request: Request,
    g: PublicDep,
    all_fields: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: TextQuery = None,
) -> dict[str, Any]:
    """CKAN ``organization_list`` (all_fields for dicts with package_count)."""
    params = CkanOrgListIn(all_fields=all_fields, limit=limit, offset=offset)
    return _organization_list(request, g, params)


def ckan_organization_list_post(
    request: Request, g: PublicDep, body: CkanOrgListIn | None = None
) -> dict[str, Any]:
    """CKAN ``organization_list`` with a JSON body."""
    return _organization_list(request, g, body or CkanOrgListIn())


for _prefix in ACTION_PREFIXES:
    for _name, _get, _post in (
        ("package_search", ckan_package_search_get, ckan_package_search_post),
        ("package_show", ckan_package_show_get, ckan_package_show_post),
        ("organization_list", ckan_organization_list_get, ckan_organization_list_post),
    ):
        ckan_router.add_api_route(_prefix + _name, _get, methods=["GET"])
        ckan_router.add_api_route(_prefix + _name, _post, methods=["POST"])

ROUTERS = [router, ckan_router]
