"""Catalogue logic: register, replace and find datasets; the API registry. No HTTP.

Every check runs before anything is written, so bad input never leaves half a write; every
error names its field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from citybrain.hub.catalogue import search as ngram
from citybrain.hub.catalogue import vocab
from citybrain.hub.catalogue.models import Dataset, DatasetVersion, PublishedApi
from citybrain.hub.catalogue.schemas import (
    ApiIn,
    ApiOut,
    Bilingual,
    DatasetBody,
    DatasetIn,
    DatasetOut,
    Keywords,
    Label,
    OrgRef,
    SearchHit,
    ThemeOut,
)
from citybrain.hub.catalogue.tableschema import (
    pii_fields,
    validate_json_schema,
    validate_table_schema,
)
from citybrain.kernel.clock import Clock, system_clock
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import Page, decode_cursor, encode_cursor
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.identity.service import get_organisation


def _org_ref(org: Organisation) -> OrgRef:
    return OrgRef(code=org.code, name=org.name, name_en=org.name_en)


def dataset_out(ds: Dataset) -> DatasetOut:
    """The API view of a dataset."""
    fields = ds.table_schema.get("fields", [])
    return DatasetOut(
        id=ds.slug,
        title=Bilingual(zh=ds.title_zh, en=ds.title_en),
        description=Bilingual(zh=ds.description_zh, en=ds.description_en),
        provider=_org_ref(ds.provider),
        theme=Label(**vocab.label("theme", ds.theme)),
        keywords=Keywords(zh=list(ds.keywords_zh), en=list(ds.keywords_en)),
        update_frequency=ds.update_frequency,
        table_schema=ds.table_schema,
        grade=Label(**vocab.label("grade", ds.grade)),
        sharing=Label(**vocab.label("sharing", ds.sharing)),
        legal_basis=ds.legal_basis,
        open_data=ds.open_data,
        pii_fields=[f["name"] for f in fields if f.get("pii")],
        sensitive_pii_fields=[f["name"] for f in fields if f.get("sensitive_pii")],
        version=ds.version,
        created=ds.created_at,
        modified=ds.modified_at,
        modified_by=ds.modified_by,
    )


def _text(value: str, field: str, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput("must not be empty", field=field)
    return value


def _keywords(values: list[str], field: str) -> list[str]:
    out = [v.strip() for v in values]
    for i, v in enumerate(out):
        if not v:
            raise InvalidInput("keywords must not be empty", field=f"{field}.{i}")
    return list(dict.fromkeys(out))


def validate_dataset(session: Session, body: DatasetBody) -> dict[str, Any]:
    """Check a dataset's metadata against every catalogue rule; return its column values."""
    provider = get_organisation(session, body.provider_code.strip(), "provider_code")
    vocab.parse_duration(body.update_frequency)
    values: dict[str, Any] = {
        "provider_id": provider.id,
        "title_zh": _text(body.title_zh, "title_zh", required=True),
        "title_en": _text(body.title_en, "title_en"),
        "description_zh": _text(body.description_zh, "description_zh", required=True),
        "description_en": _text(body.description_en, "description_en"),
        "theme": vocab.theme_code(body.theme),
        "keywords_zh": _keywords(body.keywords_zh, "keywords_zh"),
        "keywords_en": _keywords(body.keywords_en, "keywords_en"),
        "update_frequency": body.update_frequency,
        "table_schema": validate_table_schema(body.table_schema),
        "grade": vocab.grade_code(body.grade),
        "sharing": vocab.sharing_code(body.sharing),
        "legal_basis": body.legal_basis.strip(),
        "open_data": body.open_data,
    }
    if values["sharing"] == "none" and not values["legal_basis"]:
        raise InvalidInput(
            "a dataset that is not shared (不予共享) must cite its legal basis", field="legal_basis"
        )
    if values["open_data"]:
        if values["sharing"] == "none":
            raise InvalidInput("open data cannot be 不予共享 (sharing: none)", field="sharing")
        if values["grade"] == "core":
            raise InvalidInput("core data (核心数据) cannot be open data", field="grade")
        for index, name in pii_fields(values["table_schema"]):
            raise InvalidInput(
                f"open data cannot contain personal information (field {name!r})",
                field=f"schema.fields.{index}.pii",
            )
    return values


def get_dataset(session: Session, slug: str, *, lock: bool = False) -> Dataset:
    """The dataset with this id, or NotFound naming ``id``."""
    stmt = select(Dataset).where(Dataset.slug == slug)
    if lock:
        stmt = stmt.with_for_update(of=Dataset)
    ds = session.scalar(stmt)
    if ds is None:
        raise NotFound(f"no dataset {slug!r} in the catalogue", field="id")
    return ds


def provider_of(session: Session, slug: str) -> str:
    """The provider organisation's code of a dataset (NotFound when there is no such dataset)."""
    return get_dataset(session, slug).provider.code


def dataset_resource(reader: sessionmaker[Session], slug: str) -> Resource:
    """The gate resource of a dataset, under its provider (NotFound naming ``id``)."""
    with reader() as session:
        return Resource("Dataset", slug, provider_of(session, slug))


class CatalogueDirectory:
    """The catalogue as the collection side's dataset directory (``DatasetDirectory`` protocol):
    a batch is validated against the dataset's registered Table Schema."""

    def schema_of(self, session: Session, dataset_id: str) -> tuple[dict[str, Any], str]:
        """(Table Schema, provider organisation code); NotFound naming ``dataset_id``."""
        try:
            ds = get_dataset(session, dataset_id)
        except NotFound as exc:
            raise NotFound(exc.detail, field="dataset_id") from exc
        return dict(ds.table_schema), ds.provider.code


def _snapshot(session: Session, ds: Dataset) -> None:
    session.flush()
    session.refresh(ds)
    snap = dataset_out(ds).model_dump(mode="json", by_alias=True)
    session.add(
        DatasetVersion(
            dataset_id=ds.id,
            version=ds.version,
            snapshot=snap,
            modified_at=ds.modified_at,
            modified_by=ds.modified_by,
        )
    )
    ngram.reindex(session, ds)


def create_dataset(
    session: Session, body: DatasetIn, actor: str, clock: Clock = system_clock
) -> Dataset:
    """Register a dataset (version 1); 409 naming ``id`` when the id is taken."""
    values = validate_dataset(session, body)
    if session.scalar(select(Dataset.id).where(Dataset.slug == body.id)) is not None:
        raise Conflict(f"dataset {body.id!r} already exists", field="id")
    now = clock()
    ds = Dataset(slug=body.id, version=1, created_at=now, modified_at=now, modified_by=actor)
    for key, value in values.items():
        setattr(ds, key, value)
    session.add(ds)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"dataset {body.id!r} already exists", field="id") from exc
    _snapshot(session, ds)
    return ds


def update_dataset(
    session: Session, slug: str, body: DatasetBody, actor: str, clock: Clock = system_clock
) -> Dataset:
    """Replace a dataset's metadata; the version goes up by one and the old one is kept.

    The provider cannot change (a dataset moves by registering it anew under the new provider).
    An update that changes nothing keeps the version.
    """
    ds = get_dataset(session, slug, lock=True)
    values = validate_dataset(session, body)
    if values["provider_id"] != ds.provider_id:
        raise InvalidInput(
            "the provider of a dataset cannot change; register it anew", field="provider_code"
        )
    if all(getattr(ds, k) == v for k, v in values.items()):
        return ds
    for key, value in values.items():
        setattr(ds, key, value)
    ds.version += 1
    ds.modified_at = clock()
    ds.modified_by = actor
    _snapshot(session, ds)
    return ds


def versions(session: Session, slug: str) -> list[DatasetVersion]:
    """Every kept version of a dataset, oldest first."""
    ds = get_dataset(session, slug)
    return list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == ds.id)
            .order_by(DatasetVersion.version)
        )
    )


def _filters(
    theme: str | None,
    org: str | None,
    grade: str | None,
    sharing: str | None,
    open_data: bool | None,
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if theme:
        conds.append(Dataset.theme == vocab.theme_code(theme))
    if grade:
        conds.append(Dataset.grade == vocab.grade_code(grade))
    if sharing:
        conds.append(Dataset.sharing == vocab.sharing_code(sharing))
    if open_data is not None:
        conds.append(Dataset.open_data.is_(open_data))
    if org:
        conds.append(
            Dataset.provider_id.in_(select(Organisation.id).where(Organisation.code == org))
        )
    return conds


def _cursor(cursor: str | None) -> tuple[int, int] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidInput("not a valid cursor", field="cursor")
    return value[0], value[1]


def search_stmt(
    q: str | None = None,
    *,
    theme: str | None = None,
    org: str | None = None,
    grade: str | None = None,
    sharing: str | None = None,
    open_data: bool | None = None,
) -> tuple[Select[Any], Any] | None:
    """(select of (Dataset, score) best first, the score column), or None when ``q`` holds no
    searchable character (only punctuation: nothing can match)."""
    terms = ngram.query_terms(q) if q else []
    conds = _filters(theme, org, grade, sharing, open_data)
    if terms:
        hits = ngram.ranked(terms).subquery()
        score: Any = hits.c.score
        stmt = select(Dataset, score).join(hits, hits.c.dataset_id == Dataset.id)
        return stmt.where(*conds).order_by(score.desc(), Dataset.id), score
    if q and q.strip():
        return None
    score = literal(0).label("score")
    return select(Dataset, score).where(*conds).order_by(Dataset.id), None


def _hit(ds: Dataset, score: Any) -> SearchHit:
    return SearchHit(**dataset_out(ds).model_dump(), score=int(score or 0))


def search(
    session: Session,
    *,
    q: str | None = None,
    theme: str | None = None,
    org: str | None = None,
    grade: str | None = None,
    sharing: str | None = None,
    open_data: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SearchHit]:
    """Datasets matching every gram of ``q`` and the filters, best first, one page at a time."""
    after = _cursor(cursor)
    built = search_stmt(q, theme=theme, org=org, grade=grade, sharing=sharing, open_data=open_data)
    if built is None:
        return Page[SearchHit](items=[])
    stmt, score = built
    if after is not None:
        if score is None:
            stmt = stmt.where(Dataset.id > after[1])
        else:
            stmt = stmt.where(or_(score < after[0], and_(score == after[0], Dataset.id > after[1])))
    rows = session.execute(stmt.limit(limit + 1)).all()
    items = [_hit(ds, s) for ds, s in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last_ds, last_score = rows[limit - 1]
        nxt = encode_cursor([int(last_score or 0), last_ds.id])
    return Page[SearchHit](items=items, next_cursor=nxt)


def search_offset(
    session: Session,
    q: str | None,
    *,
    org: str | None,
    open_data: bool | None,
    start: int,
    rows: int,
) -> tuple[int, list[Dataset]]:
    """(total count, one slice) of a search by offset, for CKAN's ``start``/``rows``."""
    built = search_stmt(q, org=org, open_data=open_data)
    if built is None:
        return 0, []
    stmt, _ = built
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    found = session.execute(stmt.offset(start).limit(rows)).all()
    return int(total), [ds for ds, _ in found]


def themes() -> list[ThemeOut]:
    """The fixed city themes with labels and their EU data themes."""
    return [
        ThemeOut(**vocab.label("theme", code), eu_theme=vocab.EU_THEME + eu)
        for code, eu in vocab.THEMES.items()
    ]


def api_out(api: PublishedApi) -> ApiOut:
    """The API view of a published API."""
    return ApiOut(
        id=api.slug,
        title=Bilingual(zh=api.title_zh, en=api.title_en),
        description=Bilingual(zh=api.description_zh, en=api.description_en),
        owner=_org_ref(api.owner),
        endpoint=api.endpoint,
        method=api.method,
        schema_kind=api.schema_kind,
        api_schema=api.api_schema,
        rate_limit_per_min=api.rate_limit_per_min,
        created=api.created_at,
    )


def create_api(
    session: Session, body: ApiIn, actor: str, clock: Clock = system_clock
) -> PublishedApi:
    """Register a published API; 422 for a bad endpoint or schema, 409 when the id is taken."""
    owner = get_organisation(session, body.owner_code.strip(), "owner_code")
    parts = urlsplit(body.endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("the endpoint must be an http(s) URL", field="endpoint")
    if body.schema_kind == "table-schema":
        schema = validate_table_schema(body.api_schema)
    else:
        schema = validate_json_schema(body.api_schema)
    if session.scalar(select(PublishedApi.id).where(PublishedApi.slug == body.id)) is not None:
        raise Conflict(f"API {body.id!r} already exists", field="id")
    api = PublishedApi(
        slug=body.id,
        owner_id=owner.id,
        title_zh=_text(body.title_zh, "title_zh", required=True),
        title_en=_text(body.title_en, "title_en"),
        description_zh=_text(body.description_zh, "description_zh", required=True),
        description_en=_text(body.description_en, "description_en"),
        endpoint=body.endpoint.strip(),
        method=body.method,
        schema_kind=body.schema_kind,
        api_schema=schema,
        rate_limit_per_min=body.rate_limit_per_min,
        created_at=clock(),
        modified_by=actor,
    )
    session.add(api)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"API {body.id!r} already exists", field="id") from exc
    session.refresh(api)
    return api


def list_apis_stmt(owner: str | None = None) -> Select[Any]:
    """Published APIs, optionally of one owner organisation (for keyset paging)."""
    stmt = select(PublishedApi)
    if owner:
        stmt = stmt.where(
            PublishedApi.owner_id.in_(select(Organisation.id).where(Organisation.code == owner))
        )
    return stmt
