"""A read-only CKAN action API subset (``package_search``, ``package_show``,
``organization_list``) in CKAN's own JSON shapes, so existing CKAN clients (ckanapi, ...)
can read the catalogue.

CKAN names are slugs: a dataset's ``name`` is its id; an organisation's ``name`` is its credit
code in lower case. ``fq`` understands ``organization:NAME`` clauses only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.hub.catalogue import service, vocab
from citybrain.hub.catalogue.models import Dataset
from citybrain.kernel.errors import CityBrainError, InvalidInput
from citybrain.kernel.identity.models import Organisation

_FQ = re.compile(r'^\+?organization:"?([A-Za-z0-9_-]+)"?$')
ERROR_TYPES = {
    401: "Authorization Error",
    403: "Authorization Error",
    404: "Not Found Error",
    409: "Validation Error",
    422: "Validation Error",
    400: "Bad Request",
}


def _ts(value: Any) -> str:
    """CKAN writes naive UTC timestamps."""
    return value.replace(tzinfo=None).isoformat()


def organization_dict(org: Organisation, package_count: int | None = None) -> dict[str, Any]:
    """An organisation as CKAN describes it."""
    out: dict[str, Any] = {
        "id": org.code,
        "name": org.code.lower(),
        "title": org.name,
        "display_name": org.name,
        "description": org.name_en,
        "type": "organization",
        "state": "active",
        "is_organization": True,
        "approval_status": "approved",
        "image_url": "",
        "created": _ts(org.created_at),
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def package_dict(ds: Dataset, base: str) -> dict[str, Any]:
    """A dataset as a CKAN package dict."""
    tags = [
        {
            "id": f"{lang}:{k}",
            "name": k,
            "display_name": k,
            "state": "active",
            "vocabulary_id": None,
        }
        for lang, words in (("zh", ds.keywords_zh), ("en", ds.keywords_en))
        for k in words
    ]
    iri = f"{base}catalog/datasets/{ds.slug}"
    resources = [
        {
            "id": f"{ds.slug}-metadata",
            "package_id": ds.slug,
            "name": "元数据与表结构 / Metadata and table schema",
            "description": "",
            "url": iri,
            "format": "JSON",
            "mimetype": "application/json",
            "state": "active",
            "position": 0,
            "created": _ts(ds.created_at),
            "last_modified": _ts(ds.modified_at),
        }
    ]
    extras = {
        "title_en": ds.title_en,
        "description_en": ds.description_en,
        "theme": ds.theme,
        "theme_label": vocab.label("theme", ds.theme)["zh"],
        "update_frequency": ds.update_frequency,
        "grade": ds.grade,
        "grade_label": vocab.label("grade", ds.grade)["zh"],
        "sharing": ds.sharing,
        "sharing_label": vocab.label("sharing", ds.sharing)["zh"],
        "legal_basis": ds.legal_basis,
        "open_data": "true" if ds.open_data else "false",
        "access_rights": vocab.access_right(ds.sharing, ds.open_data),
        "schema": json.dumps(ds.table_schema, ensure_ascii=False, sort_keys=True),
    }
    return {
        "id": ds.slug,
        "name": ds.slug,
        "title": ds.title_zh,
        "notes": ds.description_zh,
        "type": "dataset",
        "state": "active",
        "private": not ds.open_data,
        "isopen": ds.open_data,
        "version": str(ds.version),
        "url": iri,
        "author": None,
        "author_email": None,
        "maintainer": None,
        "maintainer_email": None,
        "license_id": "",
        "metadata_created": _ts(ds.created_at),
        "metadata_modified": _ts(ds.modified_at),
        "owner_org": ds.provider.code,
        "organization": organization_dict(ds.provider),
        "tags": tags,
        "num_tags": len(tags),
        "resources": resources,
        "num_resources": len(resources),
        "groups": [],
        "relationships_as_object": [],
        "relationships_as_subject": [],
        "extras": [{"key": k, "value": v} for k, v in extras.items() if v != ""],
    }


def parse_fq(fq: str | None) -> str | None:
    """The organisation code named by ``fq`` (``organization:NAME``), or None."""
    if not fq or not fq.strip():
        return None
    codes = set()
    for clause in fq.split():
        m = _FQ.match(clause)
        if not m:
            raise InvalidInput(
                f"unsupported fq clause {clause!r}: use organization:NAME", field="fq"
            )
        codes.add(m.group(1).upper())
    if len(codes) > 1:
        raise InvalidInput("fq may name one organization", field="fq")
    return codes.pop()


def package_search(
    session: Session,
    base: str,
    *,
    q: str | None,
    fq: str | None,
    rows: int,
    start: int,
    open_only: bool,
) -> dict[str, Any]:
    """The ``package_search`` result: count and one page of package dicts."""
    query = None if not q or q.strip() in ("*:*", "*") else q
    total, found = service.search_offset(
        session,
        query,
        org=parse_fq(fq),
        open_data=True if open_only else None,
        start=start,
        rows=rows,
    )
    return {
        "count": total,
        "results": [package_dict(ds, base) for ds in found],
        "sort": "score desc, metadata_modified desc",
        "facets": {},
        "search_facets": {},
    }


def organization_list(
    session: Session, *, all_fields: bool, open_only: bool, limit: int, offset: int
) -> list[Any]:
    """Organisations that provide datasets (open ones only for anonymous callers), by name."""
    stmt = (
        select(Organisation, func.count(Dataset.id))
        .join(Dataset, Dataset.provider_id == Organisation.id)
        .group_by(Organisation.id)
        .order_by(Organisation.code)
    )
    if open_only:
        stmt = stmt.where(Dataset.open_data.is_(True))
    rows = session.execute(stmt.offset(offset).limit(limit)).all()
    if all_fields:
        return [organization_dict(org, int(n)) for org, n in rows]
    return [org.code.lower() for org, _ in rows]


def envelope(action: str, base: str, result: Any) -> dict[str, Any]:
    """CKAN's success envelope."""
    return {
        "help": f"{base}api/3/action/help_show?name={action}",
        "success": True,
        "result": result,
    }


def error_envelope(action: str, base: str, exc: CityBrainError) -> dict[str, Any]:
    """CKAN's error envelope for one of our errors."""
    error: dict[str, Any] = {"__type": ERROR_TYPES.get(exc.status, "Internal Error")}
    if exc.status in (409, 422) and exc.field:
        error[exc.field] = [exc.detail]
    else:
        error["message"] = exc.detail
    return {"help": f"{base}api/3/action/help_show?name={action}", "success": False, "error": error}
