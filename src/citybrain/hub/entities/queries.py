"""Entity queries: ``GET /entities`` filters (type, id, idPattern, q, geo-query, scope of
open data) turned into SQL, with an exact check in Python where SQL can only narrow."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from citybrain.hub.entities import geo
from citybrain.hub.entities.context_loader import LOCATION
from citybrain.hub.entities.models import NgsiEntity
from citybrain.hub.entities.problems import BadRequestData
from citybrain.hub.entities.q import QExpr, check_pattern, matches, to_sql
from citybrain.hub.entities.visibility import DatasetScope, dataset_clause

SCAN_PAGE = 1000
MAX_ID_PATTERN = 200


@dataclass(frozen=True)
class EntityQuery:
    """A parsed ``GET /entities`` (or subscription) filter, names already expanded."""

    types: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    q: QExpr | None = None
    geo: geo.GeoQuery | None = None
    # None: any; (): none (open data only and none open); a scope hides restricted datasets
    datasets: tuple[str, ...] | DatasetScope | None = None

    @property
    def empty(self) -> bool:
        """True when nothing narrows the query (the spec asks for at least one filter)."""
        return not (self.types or self.ids or self.id_pattern or self.q or self.geo)


def check_id_pattern(pattern: str | None) -> str | None:
    """A valid, short regular expression for ``idPattern``; BadRequestData otherwise."""
    if pattern is None:
        return None
    if len(pattern) > MAX_ID_PATTERN:
        raise BadRequestData(f"idPattern longer than {MAX_ID_PATTERN}", field="idPattern")
    try:
        re.compile(pattern)
        check_pattern(pattern)  # the q rules: no nested repetition such as (a+)*
    except (re.error, ValueError) as exc:
        raise BadRequestData(
            f"idPattern is not a regular expression: {exc}", field="idPattern"
        ) from exc
    return pattern


def _where(
    query: EntityQuery, tenant: str, expand: Callable[[str], str], dialect: str
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [NgsiEntity.tenant == tenant]
    if query.types:
        clauses.append(NgsiEntity.entity_type.in_(query.types))
    if query.ids:
        clauses.append(NgsiEntity.entity_id.in_(query.ids))
    if query.id_pattern:
        if dialect == "postgresql":
            clauses.append(NgsiEntity.entity_id.regexp_match(query.id_pattern))
        else:
            clauses.append(func.regexp(query.id_pattern, NgsiEntity.entity_id) == 1)
    if query.q is not None:
        clauses.append(to_sql(query.q, NgsiEntity.attrs, expand, dialect))
    if query.geo is not None:
        pre = geo.bbox_prefilter(
            query.geo, NgsiEntity.min_x, NgsiEntity.min_y, NgsiEntity.max_x, NgsiEntity.max_y
        )
        if pre is not None and _is_location(query.geo, expand):
            clauses.append(pre)
    if query.datasets is not None:
        clauses.append(dataset_clause(query.datasets, NgsiEntity.dataset))
    return clauses


def _is_location(gq: geo.GeoQuery, expand: Callable[[str], str]) -> bool:
    return expand(gq.geoproperty) == LOCATION


def _exact(row: NgsiEntity, query: EntityQuery, expand: Callable[[str], str]) -> bool:
    if query.q is not None and not matches(query.q, row.attrs, expand):
        return False
    if query.geo is not None:
        attr = row.attrs.get(expand(query.geo.geoproperty))
        if not isinstance(attr, dict) or attr.get("type") != "GeoProperty":
            return False
        return geo.matches_geo(query.geo, attr.get("value") or {})
    return True


def run_query(
    session: Session,
    tenant: str,
    query: EntityQuery,
    expand: Callable[[str], str],
    *,
    limit: int,
    offset: int = 0,
    count: bool = False,
) -> tuple[list[NgsiEntity], int | None]:
    """One page of matching entities (ordered by storage id) and, if asked, the total."""
    dialect = session.get_bind().dialect.name
    clauses = _where(query, tenant, expand, dialect)
    base = select(NgsiEntity).where(*clauses).order_by(NgsiEntity.id)
    if query.geo is None:
        # q's SQL form is exact on single-instance attributes; the Python check only drops
        # what a superset predicate let through.
        rows = list(session.scalars(base.offset(offset).limit(limit)))
        page = [row for row in rows if _exact(row, query, expand)]
        total = None
        if count:
            total = session.scalar(select(func.count()).select_from(NgsiEntity).where(*clauses))
        return page, total
    return _scan(session, base, query, expand, limit=limit, offset=offset, count=count)


def _scan(
    session: Session,
    base: Any,
    query: EntityQuery,
    expand: Callable[[str], str],
    *,
    limit: int,
    offset: int,
    count: bool,
) -> tuple[list[NgsiEntity], int | None]:
    """Walk candidates page by page, keeping exact matches (geo-queries)."""
    page: list[NgsiEntity] = []
    seen = 0
    after = 0
    while True:
        chunk = list(session.scalars(base.where(NgsiEntity.id > after).limit(SCAN_PAGE)))
        if not chunk:
            break
        after = chunk[-1].id
        for row in chunk:
            if not _exact(row, query, expand):
                continue
            if offset <= seen < offset + limit:
                page.append(row)
            seen += 1
        if not count and seen >= offset + limit:
            break
    return page, (seen if count else None)


def split_list(text: str | None, field_name: str) -> tuple[str, ...]:
    """A comma-separated query parameter as a tuple (empty parts refused)."""
    if text is None:
        return ()
    parts = tuple(part.strip() for part in text.split(","))
    if any(not part for part in parts):
        raise BadRequestData(f"{field_name} has an empty item", field=field_name)
    return parts


def split_types(text: str | None) -> tuple[str, ...]:
    """``type=A,B`` or the type selection ``A|B`` (alternatives)."""
    if text is None:
        return ()
    if any(ch in text for ch in ";()"):
        raise BadRequestData(
            "type: only alternatives (A,B or A|B) are supported in type selections",
            field="type",
        )
    return split_list(text.replace("|", ","), "type")
