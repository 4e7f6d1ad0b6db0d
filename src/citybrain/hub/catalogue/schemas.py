"""Request and response models of the catalogue (request bodies refuse unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from citybrain.kernel.schemas import Input

SLUG = r"^[a-z0-9][a-z0-9_-]{0,98}[a-z0-9]$"
Keyword = Annotated[str, Field(min_length=1, max_length=60)]


class DatasetBody(Input):
    """A dataset's metadata as registered or replaced (``PUT`` sends all of it again)."""

    model_config = ConfigDict(populate_by_name=True, strict=True)

    title_zh: str = Field(min_length=1, max_length=300, description="标题（中文，必填）")
    title_en: str = Field("", max_length=300)
    description_zh: str = Field(min_length=1, max_length=20000)
    description_en: str = Field("", max_length=20000)
    provider_code: str = Field(
        min_length=1, max_length=40, description="provider organisation's credit code"
    )
    theme: str = Field(max_length=40, description="a theme code from GET /catalog/themes")
    keywords_zh: list[Keyword] = Field(default_factory=list, max_length=50)
    keywords_en: list[Keyword] = Field(default_factory=list, max_length=50)
    update_frequency: str = Field(max_length=40, description="ISO 8601 duration, e.g. PT5M, P1D")
    table_schema: dict[str, Any] = Field(alias="schema", description="Frictionless Table Schema")
    grade: str = Field(max_length=20, description="core/important/general (核心/重要/一般)")
    sharing: str = Field(
        max_length=20, description="unconditional/conditional/none (无条件/有条件/不予共享)"
    )
    legal_basis: str = Field("", max_length=2000, description="required when sharing is none")
    open_data: bool = False


class DatasetIn(DatasetBody):
    """A new dataset: its metadata and its id (a slug)."""

    id: str = Field(pattern=SLUG, description="lower-case slug, 2-100 characters")


class Bilingual(BaseModel):
    """Text in Chinese (always) and English (may be empty)."""

    zh: str
    en: str = ""


class Label(BaseModel):
    """A code with its Chinese and English labels."""

    code: str
    zh: str
    en: str


class OrgRef(BaseModel):
    """An organisation as the catalogue names it."""

    code: str
    name: str
    name_en: str = ""


class Keywords(BaseModel):
    """Keywords in both languages."""

    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class DatasetOut(BaseModel):
    """A dataset as the catalogue shows it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    title: Bilingual
    description: Bilingual
    provider: OrgRef
    theme: Label
    keywords: Keywords
    update_frequency: str
    table_schema: dict[str, Any] = Field(alias="schema")
    grade: Label
    sharing: Label
    legal_basis: str = ""
    open_data: bool
    pii_fields: list[str]
    sensitive_pii_fields: list[str]
    version: int
    created: datetime
    modified: datetime
    modified_by: str


class SearchHit(DatasetOut):
    """A dataset found by search, with its score (summed weights of matching n-grams)."""

    score: int = 0


class VersionOut(BaseModel):
    """One kept version of a dataset's metadata."""

    version: int
    modified: datetime
    modified_by: str
    snapshot: dict[str, Any]


class ThemeOut(BaseModel):
    """A city theme with its labels and the EU data theme it maps to in DCAT-AP."""

    code: str
    zh: str
    en: str
    eu_theme: str


class ApiIn(Input):
    """An API a department publishes."""

    model_config = ConfigDict(populate_by_name=True, strict=True)

    id: str = Field(pattern=SLUG)
    title_zh: str = Field(min_length=1, max_length=300)
    title_en: str = Field("", max_length=300)
    description_zh: str = Field(min_length=1, max_length=20000)
    description_en: str = Field("", max_length=20000)
    owner_code: str = Field(min_length=1, max_length=40)
    endpoint: str = Field(min_length=1, max_length=500, description="http(s) URL")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    schema_kind: Literal["json-schema", "table-schema"] = "json-schema"
    api_schema: dict[str, Any] = Field(alias="schema")
    rate_limit_per_min: int = Field(ge=1, le=1_000_000, description="requests per minute")


class ApiOut(BaseModel):
    """A published API."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    title: Bilingual
    description: Bilingual
    owner: OrgRef
    endpoint: str
    method: str
    schema_kind: str
    api_schema: dict[str, Any] = Field(alias="schema")
    rate_limit_per_min: int
    created: datetime
