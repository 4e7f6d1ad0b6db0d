"""The NGSI-LD query language (ETSI GS CIM 009, 4.9): ``parse_q``, exact ``matches`` on one
entity's stored attributes, and ``to_sql`` on the ``attrs`` column. Grammar (``;`` AND binds
tighter than ``|`` OR; error positions count from 1)::

    query = and *("|" and)   and = factor *(";" factor)   factor = "(" query ")" / ["!"] path
          / path op value    path = name *("." name) *("[" name *("." name) "]")
    value = item / item 1*("," item) / item ".." item     (item: number, "string", true, false,
            DateTime, Date, Time, URI; after ~= =~ !~= a "quoted" or unquoted pattern)

Patterns are Python ``re`` where ``.`` matches newlines, ``$`` only the very end, classes and
case folding are ASCII: what PostgreSQL's ``~`` means for the portable subset (COLLATE "C").
"""

from __future__ import annotations

import operator
import re
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement
from sqlalchemy.dialects.postgresql import JSONB

from citybrain.hub.entities.problems import BadRequestData

MAX_Q_LENGTH, MAX_DEPTH, MAX_PATTERN = 4000, 32, 200  # characters, parentheses, characters
MEMBERS = frozenset({"observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId"})
Scalar = bool | int | float | str
_OPS = {"==": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_NAME = r"[\w:/#%-]"
_NORMAL = re.compile(
    rf"(?P<op>!~=|==|!=|<=|>=|~=|=~|<|>)|(?P<p>[();|!])|(?P<path>{_NAME}[\w:/#%.\[\]-]*)"
)
_VALUE = re.compile(r"(?P<sep>\.\.|,)|(?P<atom>(?:[^,;|()\"\s.]|\.(?!\.))+)")
_STRING = re.compile(r'"((?:\\.|[^"\\])*)"', re.S)
_ATTR_NAME = re.compile(rf"{_NAME}[\w:/#%.-]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")
_BARE = re.compile(r"\d{4}-\d\d-\d\d|\d\d:\d\d(:\d\d(\.\d+)?)?Z?|[A-Za-z][\w+.-]*:[^\s\"<>]+")
_RX_TOKEN = re.compile(r"\\.?|\[\^?\]?(?:\\.|[^\]\\])*\]?|\(\?:?|\{\d+(?:,\d*)?\}|.", re.S)


@dataclass(frozen=True, slots=True)
class AttrPath:
    """``name.sub….member[key…]``: attribute, sub-attributes or member, compound-value keys."""

    name: str
    subs: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Range:
    """The inclusive range ``low..high`` (two numbers or two strings)."""

    low: int | float | str
    high: int | float | str


@dataclass(frozen=True, slots=True)
class Compare:
    """``path op value``: a scalar, a tuple (any of), a Range, or a pattern (``~=``, ``!~=``)."""

    path: AttrPath
    op: str
    value: Scalar | tuple[Scalar, ...] | Range


@dataclass(frozen=True, slots=True)
class Exists:
    """``path`` (the attribute exists) or ``!path`` (it does not)."""

    path: AttrPath
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    """All terms hold."""

    terms: tuple[QExpr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one term holds."""

    terms: tuple[QExpr, ...]


QExpr = Compare | Exists | And | Or


def _bad(msg: str, pos: int | None = None) -> BadRequestData:
    return BadRequestData(f"q: {msg}" + (f" at position {pos}" if pos else ""), field="q")


_Tok = namedtuple("_Tok", "kind text pos")  # kind: ( ) ; | ! op path str atom regex , .. end


def _raw_regex_end(text: str, i: int) -> int:
    """End of an unquoted pattern: the first blank, ``;``, ``|`` or unmatched ``)``."""
    depth = 0
    for m in _RX_TOKEN.finditer(text, i):
        if (m[0] in (";", "|", ")") and not depth) or m[0].isspace():
            return m.start()
        depth += 1 if m[0][0] == "(" else -1 if m[0] == ")" else 0
    return len(text)


def _tokens(text: str) -> Iterator[_Tok]:
    i, n, mode = 0, len(text), ""  # mode: "", "value" (after an operator) or "regex"
    while i < n:
        c, pos = text[i], i + 1
        if c.isspace():
            i += 1
            continue
        if mode and c not in ";|)":
            if c == '"':
                if not (m := _STRING.match(text, i)):
                    raise _bad("unterminated string starting", pos)
                kind, word, i = ("regex" if mode == "regex" else "str"), m[1], m.end()
                word = re.sub(r'\\(["\\])', r"\1", word)
            elif mode == "regex":
                kind, word, i = "regex", text[i : (end := _raw_regex_end(text, i))], end
            elif m := _VALUE.match(text, i):
                kind, word, i = m[0] if m.lastgroup == "sep" else "atom", m[0], m.end()
            else:
                raise _bad(f"unexpected {c!r}", pos)
            mode = "" if mode == "regex" else mode
        elif m := _NORMAL.match(text, i):
            kind, word, i = m.lastgroup or "", m[0], m.end()
            mode = ("regex" if "~" in word else "value") if kind == "op" else ""
            kind = word if kind == "p" else kind
        else:
            raise _bad(f"unexpected {c!r}" + (" (use '==')" if c == "=" else ""), pos)
        yield _Tok(kind, word, pos)
    yield _Tok("end", "", n + 1)


def _split_names(text: str, pos: int, iri: bool) -> list[str]:
    """Dotted names; in a full IRI only the part after its last ``/`` or ``#`` is split."""
    cut = max(text.rfind("/"), text.rfind("#")) + 1 if iri and "://" in text else 0
    parts = text[cut:].split(".")
    parts[0] = text[:cut] + parts[0]
    if not all(parts) or any(c in p for p in parts for c in "[]"):
        raise _bad(f"malformed attribute path {text!r}", pos)
    return parts


def _path(tok: _Tok) -> AttrPath:
    head, _, tail = tok.text.partition("[")
    names, keys = _split_names(head, tok.pos, iri=True), []
    if tail and not tail.endswith("]"):
        raise _bad(f"unclosed '[' in attribute path {tok.text!r}", tok.pos)
    for chunk in tail[:-1].split("][") if tail else ():
        keys += _split_names(chunk, tok.pos, iri=False)
    if any(sub in MEMBERS for sub in names[1:-1]):
        raise _bad(f"{tok.text!r}: a member such as observedAt must come last", tok.pos)
    return AttrPath(names[0], tuple(names[1:]), tuple(keys))


def _atom(tok: _Tok) -> Scalar:
    text = tok.text
    if text in ("true", "false"):
        return text == "true"
    if _NUMBER.fullmatch(text):
        if abs(number := float(text)) > 1e308:
            raise _bad(f"number {text!r} is out of range", tok.pos)
        return number if any(c in text for c in ".eE") else int(text)
    if m := _DATETIME.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text).astimezone(UTC)
        except (ValueError, OverflowError):
            raise _bad(f"invalid date-time {text!r}", tok.pos) from None
        utc = moment.strftime("%Y-%m-%dT%H:%M:%S") + (m[1] or "") + "Z"
        return text if m[2] in (None, "Z") else utc
    if _BARE.fullmatch(text):  # a Date, a Time or a URI
        return text
    raise _bad(f'invalid value {text!r} (quote strings: "...")', tok.pos)


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks, self.i, self.depth = list(_tokens(text)), 0, 0

    def take(self, *kinds: str, want: str = "") -> _Tok:
        tok = self.toks[self.i]
        if kinds and tok.kind not in kinds:
            what = "end of input" if tok.kind == "end" else repr(tok.text)
            raise _bad(f"unexpected {what}" + (f" (expected {want})" if want else ""), tok.pos)
        self.i += 1
        return tok

    def query(self, sep: str = "|") -> QExpr:
        """Terms joined by ``sep``: ``|`` joins conjunctions, ``;`` joins factors."""
        terms = [self.query(";") if sep == "|" else self.factor()]
        while self.toks[self.i].kind == sep and self.take():
            terms.append(self.query(";") if sep == "|" else self.factor())
        return terms[0] if len(terms) == 1 else (Or if sep == "|" else And)(tuple(terms))

    def factor(self) -> QExpr:
        tok = self.take("(", "!", "path", want="an attribute name, '!' or '('")
        if tok.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _bad(f"parentheses nested deeper than {MAX_DEPTH}", tok.pos)
            expr = self.query()
            self.take(")", want="')'")
            self.depth -= 1
            return expr
        if tok.kind == "!":
            return Exists(_path(self.take("path", want="an attribute name")), negated=True)
        path = _path(tok)
        if self.toks[self.i].kind != "op":
            return Exists(path)
        op = self.take()
        if "~" in op.text:
            pat = self.take("regex", want="a pattern")
            try:
                _regex_parts(pat.text)
            except (ValueError, re.error) as exc:
                raise _bad(f"invalid regular expression ({exc})", pat.pos) from None
            return Compare(path, "!~=" if op.text == "!~=" else "~=", pat.text)
        return Compare(path, op.text, self.value(op))

    def item(self) -> Scalar:
        tok = self.take("str", "atom", want="a value")
        return tok.text if tok.kind == "str" else _atom(tok)

    def value(self, op: _Tok) -> Scalar | tuple[Scalar, ...] | Range:
        equality, items = op.text in ("==", "!="), [self.item()]
        if self.toks[self.i].kind == "..":
            dots, high = self.take(), self.item()
            kinds = {type(v) if isinstance(v, bool | str) else float for v in (items[0], high)}
            if not equality or bool in kinds or len(kinds) > 1:
                raise _bad("a range needs == or != and two numbers or two strings", dots.pos)
            return Range(items[0], high)  # type: ignore[arg-type]
        while self.toks[self.i].kind == "," and self.take():
            items.append(self.item())
        if len(items) > 1 and not equality:
            raise _bad("a value list needs == or !=", op.pos)
        if isinstance(items[0], bool) and not equality:
            raise _bad(f"booleans cannot be ordered with {op.text!r}", op.pos)
        return tuple(items) if len(items) > 1 else items[0]


@lru_cache(maxsize=1024)
def parse_q(text: str) -> QExpr:
    """Parse an NGSI-LD ``q`` expression (cached); BadRequestData(field="q") names the fault."""
    if len(text) > MAX_Q_LENGTH:
        raise _bad(f"longer than {MAX_Q_LENGTH} characters")
    if "\x00" in text:
        raise _bad("NUL character", text.index("\x00") + 1)
    expr = (parser := _Parser(text)).query()
    parser.take("end", want="';', '|' or the end")
    return expr


def attribute_names(expr: QExpr) -> set[str]:
    """The top-level attribute names (as written, not expanded) that ``expr`` uses."""
    if isinstance(expr, And | Or):
        return set().union(*map(attribute_names, expr.terms))
    return {expr.path.name}


def parse_attrs_param(text: str) -> list[str]:
    """Split and check the ``attrs=a,b,c`` parameter (order kept, duplicates dropped)."""
    names: list[str] = []
    for n, raw in enumerate(text.split(","), start=1):
        if not _ATTR_NAME.fullmatch(name := raw.strip()):
            raise BadRequestData(f"attrs: item {n} ({raw!r}) is no attribute name", field="attrs")
        names += [] if name in names else [name]
    return names


@lru_cache(maxsize=512)
def _regex_parts(pattern: str) -> tuple[re.Pattern[str], str | None]:
    """The compiled pattern and its PostgreSQL form (None if PostgreSQL could read it otherwise:
    lookarounds, ``\\b``, back-references...); refuses nested repetition like ``(a+)*``."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"longer than {MAX_PATTERN} characters")
    head = "(?i)" if pattern.startswith("(?i)") else ""
    py, portable, groups, last, inner = [head], True, [False], "", False
    for tok in _RX_TOKEN.findall(pattern, len(head)):
        c, quant = tok[0], tok[0] in "*+?" or (tok[0] == "{" and len(tok) > 1)
        if c == "\\":
            e = tok[1:]
            portable &= e in set("dDwWsSnrtfv") or (e.isascii() and not e.isalnum() and e != "")
        elif c == "[" and len(tok) > 1:
            esc = re.findall(r"\\(.)", tok)
            portable &= "[" not in tok[1:] and all(e in "dDwWsS" or not e.isalnum() for e in esc)
        elif c == "(":
            portable &= tok != "(?"
            groups.append(False)
        elif c == ")":
            inner = groups.pop() if len(groups) > 1 else False
            groups[-1] |= inner
        elif quant:
            bounds = [int(b) for b in re.findall(r"\d+", tok)]
            repeats = c in "*+" or tok.endswith(",}") or max(bounds or [0]) > 1
            portable &= max(bounds or [0]) <= 255 and not (last == "quant" and tok != "?")
            if repeats and last == ")" and inner:
                raise ValueError("nested repetition such as (a+)* is not allowed")
            groups[-1] |= repeats
        portable &= c != "{" or quant
        py.append(r"\Z" if tok == "$" else tok)
        last = "quant" if quant else c
    return re.compile("".join(py), re.DOTALL | re.ASCII), pattern if portable else None


def check_pattern(pattern: str) -> None:
    """Refuse what ``q`` refuses in a regular expression (ValueError: too long, nested)."""
    _regex_parts(pattern)


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Add ``regexp(pattern, value)``, which ``to_sql`` uses, to a SQLite DB-API connection:
    ``event.listen(engine, "connect", lambda conn, _rec: register_sqlite_functions(conn))``."""

    def regexp(pattern: str, value: Any) -> int:
        try:
            compiled = _regex_parts(pattern)[0]
        except (ValueError, re.error):  # a pattern q refuses (e.g. idPattern): plain re
            compiled = re.compile(pattern)  # re keeps its own cache
        return int(isinstance(value, str) and compiled.search(value) is not None)

    dbapi_connection.create_function("regexp", 2, regexp, deterministic=True)


_NO = object()
_ROLES = {"Relationship": "object", "LanguageProperty": "languageMap"}


def _as_list(value: Any) -> list[Any]:
    return [] if value is _NO else value if isinstance(value, list) else [value]


def _walk(attrs: Mapping[str, Any], path: AttrPath, expand: Callable[[str], str]) -> Any:
    """(attribute objects reached through the sub-attributes, the member named or None)."""
    objs = _as_list(attrs.get(expand(path.name), _NO))
    for sub in path.subs:
        if sub in MEMBERS:
            return objs, sub
        objs = [x for o in objs if isinstance(o, dict) for x in _as_list(o.get(expand(sub), _NO))]
    return objs, None


def _leaves(attrs: Mapping[str, Any], path: AttrPath, expand: Callable[[str], str]) -> list[Any]:
    """The compared elements at ``path``, as (element, is-a-whole-languageMap) pairs."""
    objs, member = _walk(attrs, path, expand)
    found = []
    for o in objs:
        kind = o.get("type") if isinstance(o, dict) else None
        key = member or _ROLES.get(kind if isinstance(kind, str) else "", "value")
        if isinstance(o, dict) and key in o:
            found.append((o[key], key == "languageMap" and not path.keys))
    for k in path.keys:
        found = [(v[k], lm) for v, lm in found if isinstance(v, dict) and k in v]
    return found


def _candidates(leaves: list[Any]) -> Iterator[Any]:
    for leaf, lm in leaves:
        v = leaf["@value"] if isinstance(leaf, dict) and "@value" in leaf else leaf
        yield from v if isinstance(v, list) else v.values() if lm and isinstance(v, dict) else [v]


def _cmp(c: Any, op: str, v: Scalar) -> bool:
    if isinstance(v, bool | str) or isinstance(c, bool | str):
        return c is v if isinstance(v, bool) else type(c) is type(v) and bool(_OPS[op](c, v))
    return isinstance(c, int | float) and abs(c) < 1e308 and bool(_OPS[op](float(c), float(v)))


def _test(op: str, value: Any, c: Any) -> bool:
    if op == "~=":
        return isinstance(c, str) and _regex_parts(value)[0].search(c) is not None
    if isinstance(value, Range):
        return _cmp(c, ">=", value.low) and _cmp(c, "<=", value.high)
    if isinstance(value, tuple):
        return any(_cmp(c, "==", v) for v in value)
    return _cmp(c, op, value)


def matches(expr: QExpr, attrs: Mapping[str, Any], expand: Callable[[str], str]) -> bool:
    """Whether one entity's stored ``attrs`` satisfy ``expr``: a Property compares its value,
    a Relationship its object, a LanguageProperty any languageMap value; a list holds when
    an element does; ``!=``/``!~=`` hold when the target exists and no element equals/matches;
    values of different types never match."""
    if isinstance(expr, And | Or):
        results = (matches(t, attrs, expand) for t in expr.terms)
        return all(results) if isinstance(expr, And) else any(results)
    path = expr.path
    if isinstance(expr, Exists):
        if path.keys or not path.subs:
            found = bool(_leaves(attrs, path, expand)) if path.keys else expand(path.name) in attrs
        else:
            objs, member = _walk(attrs, path, expand)
            found = any(isinstance(o, dict) and member in o for o in objs) if member else bool(objs)
        return found != expr.negated
    leaves = _leaves(attrs, path, expand)
    if expr.op in ("!=", "!~="):
        positive = "==" if expr.op == "!=" else "~="
        return bool(leaves) and not any(_test(positive, expr.value, c) for c in _candidates(leaves))
    return any(_test(expr.op, expr.value, c) for c in _candidates(leaves))


Pred = Callable[[Any], ColumnElement[bool]]
_FALSE = sa.false()


@dataclass
class _Sql:
    """What both dialects share; a candidate is whatever ``read`` understands."""

    col: Any
    STR, NUM, BOOL = ("string",), ("number",), ("boolean",)  # the JSON type names

    def node(self, keys: tuple[str, ...]) -> Any: ...  # the candidate at ``keys``

    def read(self, c: Any) -> tuple[Any, Any, Any, Any]: ...  # JSON type, text, float, bool

    def search(self, pattern: str, text: Any) -> Any: ...

    def kind(self, keys: tuple[str, ...]) -> Any:
        return self.read(self.node(keys))[0]

    def cmp(self, c: Any, op: str, v: Scalar) -> ColumnElement[bool]:
        kind, text, number, flag = self.read(c)
        if isinstance(v, bool):
            names, hit = self.BOOL, flag if v else sa.not_(flag)
        elif isinstance(v, str):
            names, hit = self.STR, _OPS[op](text, v)
        else:
            names, hit = self.NUM, _OPS[op](number, float(v))
        return sa.case((kind.in_(names), hit), else_=_FALSE)

    def regex(self, c: Any, pattern: str) -> ColumnElement[bool]:
        kind, text, _, _ = self.read(c)
        return sa.case((kind.in_(self.STR), self.search(pattern, text)), else_=_FALSE)


class _Pg(_Sql):
    """PostgreSQL JSONB: a candidate is a jsonb expression."""

    def get(self, keys: tuple[str, ...], base: Any = None) -> Any:
        node = self.col if base is None else base
        for k in keys:  # "->" with a text key never indexes into an array
            node = node.op("->", return_type=JSONB)(sa.cast(sa.literal(k), sa.Text))
        return node

    node = get

    def any(self, keys: tuple[str, ...], lm: bool, pred: Pred) -> ColumnElement[bool]:
        j = self.get(keys)
        n = sa.func.coalesce(self.get(("@value",), j), j, type_=JSONB)
        whens = []
        for fn, kind in (("jsonb_array_elements", "array"), ("jsonb_each", "object"))[: 1 + lm]:
            rows = getattr(sa.func, fn)(n).table_valued("value")
            hit = sa.select(sa.literal(1)).select_from(rows).where(pred(rows.c.value)).exists()
            whens.append((sa.func.jsonb_typeof(n) == kind, hit))
        return sa.case(*whens, else_=pred(n))

    def read(self, c: Any) -> tuple[Any, Any, Any, Any]:
        text = sa.collate(c.op("#>>", return_type=sa.Text)(sa.literal_column("'{}'")), "C")
        return sa.func.jsonb_typeof(c), text, sa.cast(c, sa.Float), sa.cast(c, sa.Boolean)

    def search(self, pattern: str, text: Any) -> Any:
        return text.op("~")(_regex_parts(pattern)[1])


class _Lite(_Sql):
    """SQLite JSON1: a candidate is a (JSON type, SQL value) pair."""

    STR, NUM, BOOL = ("text",), ("integer", "real"), ("true", "false")

    def path(self, keys: tuple[str, ...]) -> str:  # names never hold '"' (IRIs cannot)
        return "$" + "".join(f'."{k}"' for k in keys)

    def node(self, keys: tuple[str, ...]) -> Any:
        path = self.path(keys)
        return sa.func.json_type(self.col, path), sa.func.json_extract(self.col, path)

    def any(self, keys: tuple[str, ...], lm: bool, pred: Pred) -> ColumnElement[bool]:
        p, at = self.path(keys), self.path((*keys, "@value"))
        norm = sa.case((sa.func.json_type(self.col, at).is_not(None), at), else_=p)
        kind, value = sa.func.json_type(self.col, norm), sa.func.json_extract(self.col, norm)
        rows = sa.func.json_each(self.col, norm).table_valued("type", "value")
        hit = sa.select(sa.literal(1)).select_from(rows).where(pred((rows.c.type, rows.c.value)))
        many = kind.in_(["array", "object"]) if lm else kind == "array"
        return sa.case((many, hit.exists()), else_=pred((kind, value)))

    def read(self, c: Any) -> tuple[Any, Any, Any, Any]:
        return c[0], c[1], sa.cast(c[1], sa.Float), c[0] == "true"

    def search(self, pattern: str, text: Any) -> Any:
        return sa.func.regexp(pattern, text) == 1


def _positive(b: _Pg | _Lite, op: str, value: Any) -> Pred:
    if op == "~=":
        return lambda c: b.regex(c, value)
    if isinstance(value, Range):
        return lambda c: sa.and_(b.cmp(c, ">=", value.low), b.cmp(c, "<=", value.high))
    if isinstance(value, tuple):
        return lambda c: sa.or_(*(b.cmp(c, "==", v) for v in value))
    return lambda c: b.cmp(c, op, value)


def _term(b: _Pg | _Lite, e: Compare | Exists, expand: Callable[[str], str]) -> Any:
    path, member = e.path, next((s for s in e.path.subs if s in MEMBERS), None)
    base = (expand(path.name), *(expand(s) for s in path.subs if s not in MEMBERS))
    regex = isinstance(e, Compare) and e.op.endswith("~=") and str(e.value)
    if regex and isinstance(b, _Pg) and _regex_parts(regex)[1] is None:
        return sa.true()  # PostgreSQL could read the pattern differently: left to matches()

    def exact(keys: tuple[str, ...], lm: bool = False) -> Any:
        present = b.kind(keys).is_not(None)
        if isinstance(e, Exists):
            return sa.not_(present) if e.negated else present
        hit = b.any(keys, lm, _positive(b, {"!=": "==", "!~=": "~="}.get(e.op, e.op), e.value))
        return sa.and_(present, sa.not_(hit)) if e.op in ("!=", "!~=") else hit

    if member or (isinstance(e, Exists) and not path.keys):
        node = exact((*base, *([member] if member else []), *path.keys))
    else:
        roles = (("object", False), ("languageMap", not path.keys), ("value", False))
        rel, lang, plain = (exact((*base, role, *path.keys), lm) for role, lm in roles)
        kind = b.node((*base, "type"))
        is_rel, is_lang = (b.cmp(kind, "==", t) for t in ("Relationship", "LanguageProperty"))
        node = sa.case((is_rel, rel), (is_lang, lang), else_=plain)
    n = 0 if isinstance(e, Exists) and not path.subs and not path.keys else len(base)
    unsure = [sa.func.coalesce(b.kind(base[:i]) == "array", _FALSE) for i in range(1, n + 1)]
    return sa.or_(*unsure, node)  # an attribute that is a list of instances: see matches()


def to_sql(
    expr: QExpr, attrs_column: Any, expand: Callable[[str], str], dialect_name: str
) -> ColumnElement[bool]:
    """``expr`` as a SQL predicate on ``attrs_column`` ("postgresql" or "sqlite"), exact but
    where an attribute on the path is a list of instances or, on PostgreSQL, a pattern is
    outside the portable subset: such terms are true, so post-filter rows with ``matches``.
    SQLite connections need ``register_sqlite_functions``."""
    if dialect_name not in ("postgresql", "sqlite"):
        raise ValueError(f"no q translation for the {dialect_name!r} dialect")
    if isinstance(expr, And | Or):
        terms = (to_sql(t, attrs_column, expand, dialect_name) for t in expr.terms)
        return (sa.and_ if isinstance(expr, And) else sa.or_)(*terms)
    return _term((_Pg if dialect_name == "postgresql" else _Lite)(attrs_column), expr, expand)
