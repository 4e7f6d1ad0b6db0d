"""DCAT-AP 3 export as JSON-LD: one dcat:Catalog with its dcat:Dataset and dcat:DataService.

Themes map to the EU data-theme vocabulary (and our own city theme IRI), update frequencies to
the EU frequency vocabulary (the exact ISO 8601 duration is kept as ``cb:updateFrequency``), and
sharing classes to EU access rights: open data PUBLIC, 不予共享 NON_PUBLIC, otherwise RESTRICTED.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.hub.catalogue import vocab
from citybrain.hub.catalogue.models import Dataset, PublishedApi
from citybrain.kernel.i18n import t
from citybrain.kernel.identity.models import Organisation

TABLE_SCHEMA_SPEC = "https://specs.frictionlessdata.io/table-schema/"
CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "cb": "https://citybrain.dev/ns/catalogue#",
}
JSON_FORMAT = "http://publications.europa.eu/resource/authority/file-type/JSON"


def _texts(zh: str, en: str) -> list[dict[str, str]]:
    out = [{"@value": zh, "@language": "zh"}]
    if en:
        out.append({"@value": en, "@language": "en"})
    return out


def _when(value: Any) -> dict[str, str]:
    return {"@value": value.isoformat(), "@type": "xsd:dateTime"}


def agent(org: Organisation) -> dict[str, Any]:
    """An organisation as a foaf:Agent, identified by its unified social credit code."""
    return {
        "@id": f"urn:uscc:{org.code}",
        "@type": "foaf:Agent",
        "foaf:name": _texts(org.name, org.name_en),
        "dct:identifier": org.code,
    }


def dataset_node(ds: Dataset, base: str) -> dict[str, Any]:
    """One dcat:Dataset."""
    iri = f"{base}catalog/datasets/{ds.slug}"
    sharing = vocab.label("sharing", ds.sharing)
    grade = vocab.label("grade", ds.grade)
    keywords = [{"@value": k, "@language": "zh"} for k in ds.keywords_zh] + [
        {"@value": k, "@language": "en"} for k in ds.keywords_en
    ]
    node: dict[str, Any] = {
        "@id": iri,
        "@type": "dcat:Dataset",
        "dct:identifier": ds.slug,
        "dct:title": _texts(ds.title_zh, ds.title_en),
        "dct:description": _texts(ds.description_zh, ds.description_en),
        "dct:publisher": agent(ds.provider),
        "dcat:theme": [
            {"@id": vocab.EU_THEME + vocab.THEMES[ds.theme]},
            {"@id": f"{base}catalog/themes#{ds.theme}"},
        ],
        "dcat:keyword": keywords,
        "dct:accrualPeriodicity": {"@id": vocab.eu_frequency(ds.update_frequency)},
        "cb:updateFrequency": {"@value": ds.update_frequency, "@type": "xsd:duration"},
        "dct:accessRights": {"@id": vocab.access_right(ds.sharing, ds.open_data)},
        "cb:sharingClass": _texts(sharing["zh"], sharing["en"]),
        "cb:dataGrade": _texts(grade["zh"], grade["en"]),
        "cb:openData": {"@value": "true" if ds.open_data else "false", "@type": "xsd:boolean"},
        "dct:conformsTo": {"@id": TABLE_SCHEMA_SPEC},
        "dct:issued": _when(ds.created_at),
        "dct:modified": _when(ds.modified_at),
        "dcat:version": str(ds.version),
        "dcat:distribution": [
            {
                "@id": f"{iri}#metadata",
                "@type": "dcat:Distribution",
                "dct:title": _texts("元数据与表结构", "Metadata and table schema"),
                "dcat:accessURL": {"@id": iri},
                "dct:format": {"@id": JSON_FORMAT},
                "dcat:mediaType": {
                    "@id": "https://www.iana.org/assignments/media-types/application/json"
                },
                "dct:conformsTo": {"@id": TABLE_SCHEMA_SPEC},
            }
        ],
    }
    if ds.legal_basis:
        node["cb:legalBasis"] = {"@value": ds.legal_basis, "@language": "zh"}
    return node


def service_node(api: PublishedApi) -> dict[str, Any]:
    """One published API as a dcat:DataService."""
    return {
        "@id": f"{api.endpoint}#service",
        "@type": "dcat:DataService",
        "dct:identifier": api.slug,
        "dct:title": _texts(api.title_zh, api.title_en),
        "dct:description": _texts(api.description_zh, api.description_en),
        "dct:publisher": agent(api.owner),
        "dcat:endpointURL": {"@id": api.endpoint},
        "cb:rateLimitPerMinute": {"@value": str(api.rate_limit_per_min), "@type": "xsd:integer"},
    }


def catalogue_document(
    session: Session, base: str, publisher: Organisation | None, *, open_only: bool
) -> dict[str, Any]:
    """The whole catalogue (or its open part) as one DCAT-AP 3 JSON-LD document."""
    stmt = select(Dataset).order_by(Dataset.id)
    if open_only:
        stmt = stmt.where(Dataset.open_data.is_(True))
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base}catalog/dcat",
        "@type": "dcat:Catalog",
        "dct:title": _texts(t("catalogue.dcat.title", "zh-CN"), t("catalogue.dcat.title", "en")),
        "dct:description": _texts(
            t("catalogue.dcat.description", "zh-CN"), t("catalogue.dcat.description", "en")
        ),
        "dcat:dataset": [dataset_node(ds, base) for ds in session.scalars(stmt)],
    }
    if publisher is not None:
        doc["dct:publisher"] = agent(publisher)
    if not open_only:
        apis = session.scalars(select(PublishedApi).order_by(PublishedApi.id))
        doc["dcat:service"] = [service_node(api) for api in apis]
    return doc
