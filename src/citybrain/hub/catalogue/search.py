"""Search with Chinese working: a character n-gram index kept in an ordinary table.

Text is NFKC-normalised and lower-cased, split into runs of word characters, and each run
contributes its character bigrams (a one-character run contributes itself). A query matches a
dataset when every query gram occurs in the dataset's grams (so any substring of two or more
characters of a title finds it: ``交通`` finds ``交通信号灯配时``); results rank by the summed
weights of the matching grams (title counts most), then by id. No database extension needed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from citybrain.hub.catalogue.models import Dataset, SearchGram
from citybrain.kernel.errors import InvalidInput

_RUN = re.compile(r"\w+")
WEIGHT_TITLE, WEIGHT_KEYWORD, WEIGHT_TEXT = 3, 2, 1
MAX_TERMS = 64


def normalise(text: str) -> str:
    """NFKC + lower case, as both index and query see text."""
    return unicodedata.normalize("NFKC", text).lower()


def grams(text: str) -> list[str]:
    """The character bigrams of every word run in ``text`` (single-character runs as is)."""
    out: list[str] = []
    for run in _RUN.findall(normalise(text)):
        if len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def dataset_grams(ds: Dataset) -> Counter[str]:
    """Weighted grams of a dataset's titles, keywords and descriptions (zh and en)."""
    counts: Counter[str] = Counter()
    parts: list[tuple[Iterable[str], int]] = [
        ((ds.title_zh, ds.title_en), WEIGHT_TITLE),
        ((*ds.keywords_zh, *ds.keywords_en), WEIGHT_KEYWORD),
        ((ds.description_zh, ds.description_en), WEIGHT_TEXT),
    ]
    for texts, weight in parts:
        for text in texts:
            for gram in grams(text or ""):
                counts[gram] += weight
    return counts


def reindex(session: Session, ds: Dataset) -> None:
    """Replace the dataset's grams (call after every create and update, in the same unit)."""
    session.flush()
    session.execute(delete(SearchGram).where(SearchGram.dataset_id == ds.id))
    rows = [{"gram": g, "dataset_id": ds.id, "weight": w} for g, w in dataset_grams(ds).items()]
    if rows:
        session.execute(insert(SearchGram), rows)


def query_terms(q: str) -> list[str]:
    """Distinct grams of a query, in order; 422 naming ``q`` when there are too many."""
    terms = list(dict.fromkeys(grams(q)))
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"the query is too long (more than {MAX_TERMS} grams)", field="q")
    return terms


def _term_condition(term: str) -> ColumnElement[bool]:
    if len(term) >= 2:
        return SearchGram.gram == term
    # One character matches itself or either half of a bigram.
    return or_(
        SearchGram.gram == term,
        func.substr(SearchGram.gram, 1, 1) == term,
        func.substr(SearchGram.gram, 2, 1) == term,
    )


def ranked(terms: list[str]) -> Select[Any]:
    """(dataset_id, score) of datasets holding every term, as a subquery source."""
    conds = [_term_condition(t) for t in terms]
    having = [func.max(case((c, 1), else_=0)) == 1 for c in conds]
    return (
        select(SearchGram.dataset_id, func.sum(SearchGram.weight).label("score"))
        .where(or_(*conds))
        .group_by(SearchGram.dataset_id)
        .having(and_(*having))
    )
