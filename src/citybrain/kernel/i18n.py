"""One message catalogue for everything a user reads: zh-CN (default) and en."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


@cache
def catalogue(locale: str) -> dict[str, str]:
    """All messages of a locale."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}")
    folder = resources.files("citybrain.kernel").joinpath(f"locales/{locale}")
    merged: dict[str, str] = {}
    for part in sorted(folder.iterdir(), key=lambda p: p.name):
        if part.name.endswith(".json"):
            merged.update(json.loads(part.read_text("utf-8")))
    return merged


def both(key: str, **values: object) -> str:
    """English and Chinese together, for places that cannot switch (CLI help)."""
    return f"{t(key, 'en', **values)} · {t(key, 'zh-CN', **values)}"


def t(key: str, locale: str = DEFAULT_LOCALE, **values: object) -> str:
    """The message ``key`` in ``locale`` (falling back to zh-CN, then the key), formatted."""
    messages = catalogue(locale if locale in LOCALES else DEFAULT_LOCALE)
    template = messages.get(key) or catalogue(DEFAULT_LOCALE).get(key) or key
    return template.format(**values) if values else template


def negotiate(
    query_lang: str | None,
    cookie_lang: str | None,
    accept_language: str | None,
    default: str = DEFAULT_LOCALE,
) -> str:
    """Pick a locale: explicit ?lang=, then the cookie, then Accept-Language, then the default."""
    for candidate in (query_lang, cookie_lang):
        if candidate in LOCALES:
            return candidate
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh-CN"
            if tag.startswith("en"):
                return "en"
    return default
