"""Fixed vocabularies of the catalogue: city themes, data grades, sharing classes, frequencies.

Labels are never literals here: they come from the message catalogue
(``kernel/locales/*/catalogue.json``).
"""

from __future__ import annotations

import re
from datetime import timedelta

from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import t

# City theme -> EU data theme (http://publications.europa.eu/resource/authority/data-theme).
THEMES: dict[str, str] = {
    "transport": "TRAN",
    "health": "HEAL",
    "environment": "ENVI",
    "public-safety": "JUST",
    "urban-management": "REGI",
    "market": "ECON",
    "economy": "ECON",
    "education": "EDUC",
    "social-security": "SOCI",
    "government-service": "GOVE",
}
# GB/T 43697-2024 grades: 核心 / 重要 / 一般.
GRADES = ("core", "important", "general")
# Sharing classes: 无条件共享 / 有条件共享 / 不予共享.
SHARING = ("unconditional", "conditional", "none")

EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
EU_ACCESS = "http://publications.europa.eu/resource/authority/access-right/"
EU_FREQ = "http://publications.europa.eu/resource/authority/frequency/"

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_EU_FREQUENCIES = {
    "PT1H": "HOURLY",
    "P1D": "DAILY",
    "P1W": "WEEKLY",
    "P7D": "WEEKLY",
    "P1M": "MONTHLY",
    "P3M": "QUARTERLY",
    "P1Y": "ANNUAL",
}


def label(kind: str, code: str) -> dict[str, str]:
    """``{"code", "zh", "en"}`` of a theme, grade or sharing class."""
    key = f"catalogue.{kind}.{code}"
    return {"code": code, "zh": t(key, "zh-CN"), "en": t(key, "en")}


def _code(kind: str, value: str, allowed: tuple[str, ...], field: str) -> str:
    """Accept a code or its label in either language; return the code."""
    for code in allowed:
        if value == code or value in label(kind, code).values():
            return code
    raise InvalidInput(f"{value!r} is not one of {', '.join(allowed)}", field=field)


def theme_code(value: str, field: str = "theme") -> str:
    """The theme code for a code or label (422 naming ``field`` when unknown)."""
    return _code("theme", value, tuple(THEMES), field)


_GRADE_SHORT = {"核心": "core", "重要": "important", "一般": "general"}  # GB/T 43697 short forms


def grade_code(value: str, field: str = "grade") -> str:
    """The grade code (core/important/general) for a code, a label or 核心/重要/一般."""
    return _code("grade", _GRADE_SHORT.get(value, value), GRADES, field)


def sharing_code(value: str, field: str = "sharing") -> str:
    """The sharing-class code for a code or 无条件共享/有条件共享/不予共享."""
    return _code("sharing", value, SHARING, field)


def parse_duration(value: str, field: str = "update_frequency") -> timedelta:
    """An ISO 8601 duration as a timedelta (months as 30 days, years as 365); must be > 0."""
    m = _DURATION.match(value or "")
    if not m:
        raise InvalidInput(
            f"{value!r} is not an ISO 8601 duration such as PT5M, PT1H, P1D", field=field
        )
    n = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    delta = timedelta(
        days=n["y"] * 365 + n["mo"] * 30 + n["w"] * 7 + n["d"],
        hours=n["h"],
        minutes=n["mi"],
        seconds=n["s"],
    )
    if delta <= timedelta(0):
        raise InvalidInput("the update frequency must be longer than zero", field=field)
    return delta


def eu_frequency(duration: str) -> str:
    """The EU frequency vocabulary IRI closest to an ISO duration (continuous below 1 hour)."""
    if duration in _EU_FREQUENCIES:
        return EU_FREQ + _EU_FREQUENCIES[duration]
    if parse_duration(duration) < timedelta(hours=1):
        return EU_FREQ + "UPDATE_CONT"
    return EU_FREQ + "OTHER"


def access_right(sharing: str, open_data: bool) -> str:
    """dct:accessRights: open data is PUBLIC, 不予共享 NON_PUBLIC, shared classes RESTRICTED."""
    if open_data:
        return EU_ACCESS + "PUBLIC"
    return EU_ACCESS + ("NON_PUBLIC" if sharing == "none" else "RESTRICTED")
