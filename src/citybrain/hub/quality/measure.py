"""Measurements behind the quality scores: a handful of aggregate queries per dataset over
batches, records, entities and dead letters (counts, sums and maxima in SQL; only samples and
co-located candidates are read into Python)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    extract,
    func,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.vocab import parse_duration
from citybrain.hub.entities.context_loader import DEFAULT_VOCAB, short_name
from citybrain.hub.entities.models import NgsiEntity, NgsiEntityRevision
from citybrain.hub.ingest.models import DatasetRecord, IngestBatch
from citybrain.hub.quality.rules import (
    CELL_DEG,
    LAG_GRACE,
    LATE_FACTOR,
    MAX_GROUP_SIZE,
    MAX_GROUPS,
    MAX_REFS,
    MIN_PERIODS,
    NEARBY_M,
    NULL_INFO_RATE,
    POI,
    REL_TOLERANCE,
    SILENT_FACTOR,
    Evidence,
    ScoreCard,
    Target,
    card,
    disagree,
    evidence,
    metres,
    points,
    split,
)
from citybrain.hub.stream.models import StreamDeadLetter
from citybrain.kernel.db import UTCDateTime
from citybrain.kernel.errors import CityBrainError
from citybrain.kernel.identity.models import Organisation

SLUG = bindparam("q_slug", type_=String())
START = bindparam("q_start", type_=UTCDateTime())
NOW = bindparam("q_now", type_=UTCDateTime())
_STATEMENTS: dict[tuple[Any, ...], tuple[Any, list[tuple[str, str]]]] = {}


class Sql:
    """Dialect-aware expressions: JSON values, epoch slots, floor, materialised CTEs."""

    def __init__(self, session: Session) -> None:
        self.sqlite = session.get_bind().dialect.name == "sqlite"

    def extract(self, col: Any, keys: tuple[str, ...], label: str) -> list[Any]:
        """Columns holding the JSON value at ``keys``, computed once per row: the value itself
        on SQLite; its JSON type and text on PostgreSQL (see ``classify``)."""
        if self.sqlite:
            quoted = "".join('."' + k.replace('"', "") + '"' for k in keys)  # no " in a path
            return [func.json_extract(col, "$" + quoted).label(label)]
        elem = col[keys] if len(keys) > 1 else col[keys[0]]
        return [func.jsonb_typeof(elem).label(label + "_t"), elem.as_string().label(label)]

    def classify(self, sub: Any, label: str) -> tuple[Any, Any, Any]:
        """(present, number or NULL, text or NULL) of a value extracted as ``label``; ``null``
        and ``""`` count as absent."""
        value = sub.c[label]
        if self.sqlite:
            typ = func.typeof(value)
            present = and_(value.is_not(None), value != "")
            num = case((typ.in_(("integer", "real")), value))
            return present, num, case((typ.in_(("text", "integer", "real")), cast(value, String)))
        typ = sub.c[label + "_t"]
        present = and_(typ.is_not(None), typ != "null", or_(typ != "string", value != ""))
        num = case((typ == "number", cast(value, Float)))
        return present, num, case((typ.in_(("string", "number")), value))

    def id_list(self, col: Any) -> Any:
        """The group's values of an integer column, comma-separated (an aggregate)."""
        return func.group_concat(col) if self.sqlite else func.string_agg(cast(col, String), ",")

    def json_list(self, col: Any) -> Any:
        """The group's values as a JSON array (an aggregate)."""
        return func.json_group_array(col) if self.sqlite else func.json_agg(col)

    def materialized(self, stmt: Any, name: str) -> Any:
        """``stmt`` as a CTE computed once, however often it is used (its JSON is extracted
        once per row)."""
        cte = stmt.cte(name)
        return cte.prefix_with("MATERIALIZED") if self.sqlite else cte

    def slot(self, col: Any, start: datetime, period: timedelta) -> Any:
        """The update period (0, 1, ...) since ``start`` a timestamp falls in."""
        if self.sqlite:
            seconds: Any = (func.julianday(col) - 2440587.5) * 86400.0
        else:
            seconds = extract("epoch", col)
        return self.floor((seconds - start.timestamp()) / period.total_seconds())

    def floor(self, expr: Any) -> Any:
        """floor(expr) (truncation on SQLite: the same for the non-negative values used)."""
        return cast(expr, Integer) if self.sqlite else func.floor(expr)


def targets(session: Session, now: datetime, window: timedelta) -> list[Target]:
    """Every catalogue dataset with its provider, frequency, fields and window start (the
    window spans at least MIN_PERIODS update periods)."""
    rows = session.execute(
        select(Dataset.slug, Organisation.code, Dataset.update_frequency)
        .add_columns(Dataset.table_schema, Dataset.created_at)
        .join(Organisation, Organisation.id == Dataset.provider_id)
        .order_by(Dataset.slug)
    ).all()
    out = []
    for slug, provider, freq_text, schema, created in rows:
        try:
            freq: timedelta | None = parse_duration(freq_text)
        except CityBrainError:
            freq = None
        span = max(window, MIN_PERIODS * freq) if freq else window
        schema = schema if isinstance(schema, dict) else {}
        fields = [f for f in schema.get("fields", []) if isinstance(f, dict) and f.get("name")]
        pk = schema.get("primaryKey") or []
        pk = [pk] if isinstance(pk, str) else list(pk)
        out.append(Target(slug, provider, freq, fields, pk, created, now - span))
    return out


class Measure:
    """The measurements of one dataset and its four score cards."""

    def __init__(self, session: Session, sql: Sql, target: Target, now: datetime) -> None:
        self.s, self.sql, self.d, self.now = session, sql, target, now
        b, e = IngestBatch, NgsiEntity
        self.batch_window = and_(
            b.dataset_id == target.slug, b.received_at >= target.start, b.received_at <= now
        )

        def rows_if(cond: ColumnElement[bool]) -> Any:
            return func.coalesce(func.sum(case((cond, b.rows_total), else_=0)), 0)

        row = session.execute(
            select(
                func.coalesce(func.sum(b.rows_total), 0),
                func.coalesce(func.sum(b.rows_total - b.rows_accepted), 0),
                rows_if(b.mode == "stream"),
                rows_if(b.signature_verified.is_(None)),
                rows_if(b.signature_verified.is_(False)),
            ).where(self.batch_window)
        ).one()
        self.rows, self.bad_rows, self.stream_rows, self.unsigned, self.invalid = map(int, row)
        self.entities = and_(e.dataset == target.slug, e.observed_at <= now)
        self.active = and_(self.entities, e.observed_at >= target.start)
        freq = target.freq or timedelta(0)
        is_active = e.observed_at >= target.start
        is_late = e.observed_at < now - LATE_FACTOR * freq
        is_silent = and_(is_active, e.observed_at < now - SILENT_FACTOR * freq)
        self.late, self.silent = and_(self.entities, is_late), and_(self.entities, is_silent)
        counts = [func.count()] + [
            func.coalesce(func.sum(case((c, 1), else_=0)), 0)
            for c in (is_active, is_late, is_silent)
        ]  # one pass over the (dataset, observed_at) index
        row = session.execute(select(*counts).where(self.entities)).one()
        self.entity_count, self.active_count, self.late_count, self.silent_count = map(int, row)
        self.iris: dict[str, str] = {}  # short name → attribute IRI
        self.member: dict[str, str] = {}  # attribute IRI → "value" or "object"
        if self.entity_count:
            self._attribute_iris()
        self._stats: dict[str, dict[str, int]] | None = None
        self.poi_groups: list[list[int]] = []  # row ids naming the same point of interest
        self.cell_groups: list[list[int]] = []  # row ids whose centres share a grid cell

    def cards(self) -> list[ScoreCard]:
        """The four cards: timeliness, completeness, accuracy, authenticity."""
        return [self.timeliness(), self.completeness(), self.accuracy(), self.authenticity()]

    def _card(self, dimension: str, items: list[Evidence]) -> ScoreCard:
        return card(dimension, self.d, items, self.now)

    def _refs(self, stmt: Any, prefix: str) -> list[str]:
        return [f"{prefix}:{v}" for v in self.s.scalars(stmt.limit(MAX_REFS))]

    def _attribute_iris(self) -> None:
        """Short names, IRIs and kinds (Property value or Relationship object) of attributes,
        from the dataset's most recently updated entities."""
        e = NgsiEntity
        stmt = select(e.attrs).where(self.entities).order_by(e.observed_at.desc()).limit(20)
        for attrs in self.s.scalars(stmt):
            for iri, attr in (attrs or {}).items():
                self.iris.setdefault(short_name(iri), iri)
                if isinstance(attr, dict):
                    kind = "object" if attr.get("type") == "Relationship" else "value"
                    self.member.setdefault(iri, kind)

    def _path(self, name: str, default: str = "value") -> tuple[str, str]:
        """JSON path of an entity attribute's value (or object) by its short name."""
        iri = self.iris.get(name, DEFAULT_VOCAB + name)
        return iri, self.member.get(iri, default)

    # -- timeliness ---------------------------------------------------------------------------
    def _newest(self) -> tuple[datetime, list[str]] | None:
        """The newest batch or entity update, with its refs."""
        b, e = IngestBatch, NgsiEntity
        batch = self.s.execute(
            select(b.received_at, b.id, b.ledger_seq)
            .where(b.dataset_id == self.d.slug, b.received_at <= self.now)
            .order_by(b.received_at.desc(), b.id.desc())
            .limit(1)
        ).first()
        entity = self.s.execute(
            select(e.observed_at, e.entity_id)
            .where(self.entities)
            .order_by(e.observed_at.desc())
            .limit(1)
        ).first()
        found = []
        if batch is not None:
            refs = [f"batch:{batch[1]}"] + ([f"ledger:{batch[2]}"] if batch[2] else [])
            found.append((batch[0], refs))
        if entity is not None:
            found.append((entity[0], [f"entity:{entity[1]}"]))
        return max(found, key=lambda f: f[0]) if found else None

    def timeliness(self) -> ScoreCard:
        """Lag of the newest data, missed update periods, late entities."""
        d, now, b, e, h = self.d, self.now, IngestBatch, NgsiEntity, NgsiEntityRevision
        items: list[Evidence] = []
        newest = self._newest()
        if newest is None:
            items.append(evidence("no_data", points("no_data", 1.0)))
        elif d.freq is not None:
            lag = now - newest[0]
            periods = lag / d.freq
            if pts := points("lag", periods - LAG_GRACE):
                hours = round(lag.total_seconds() / 3600, 1)
                items.append(
                    evidence("lag", pts, newest[1], hours=hours, periods=round(periods, 1))
                )
        if d.freq is None:
            return self._card("timeliness", items)
        expected = int((now - max(d.start, d.created_at)) / d.freq)
        if expected >= 1:
            slots = union(
                select(self.sql.slot(b.received_at, d.start, d.freq)).where(self.batch_window),
                select(self.sql.slot(h.observed_to, d.start, d.freq)).where(
                    h.observed_to >= d.start,
                    h.observed_to <= now,
                    tuple_(h.tenant, h.entity_id).in_(
                        select(e.tenant, e.entity_id).where(self.active)
                    ),
                ),
            ).subquery()
            seen = self.s.scalar(select(func.count()).select_from(slots)) or 0
            missing = expected - min(expected, seen)
            if pts := points("missing_reports", missing / expected):
                items.append(evidence("missing_reports", pts, missing=missing, expected=expected))
        if self.entity_count:
            n_late = self.late_count
            if pts := points("late_entities", n_late / self.entity_count):
                stmt = select(e.entity_id).where(self.late).order_by(e.observed_at)
                refs = self._refs(stmt, "entity")
                args = {"late": n_late, "total": self.entity_count, "factor": LATE_FACTOR}
                items.append(evidence("late_entities", pts, refs, **args))
        return self._card("timeliness", items)

    # -- completeness -------------------------------------------------------------------------
    def _statement(self, entities: bool, patterns: bool) -> tuple[Any, list[tuple[str, str]]]:
        """The one-pass statement over the dataset's records or entities (see ``field_stats``),
        and (field, measure) of its columns after ``count(*)``; cached by the dataset's fields
        and attribute paths, since many datasets share a schema."""
        paths = {
            f["name"]: self._path(f["name"]) if entities else (f["name"],) for f in self.d.fields
        }
        skip = {
            f["name"]
            for f in self.d.fields
            if entities
            and f["name"] not in self.iris
            and (f["name"] in self.d.primary_key or f.get("type") in ("date", "datetime"))
        }  # carried by the entity id or observedAt, not by an attribute
        poi = self._path(POI, "object")
        used = tuple(sorted((n, p) for n, p in paths.items() if n not in skip))
        key = (
            self.sql.sqlite,
            entities,
            patterns,
            json.dumps(self.d.fields, default=str),
            used,
            poi,
        )
        if key not in _STATEMENTS:
            if len(_STATEMENTS) > 256:
                _STATEMENTS.clear()
            fields = [f for f in self.d.fields if f["name"] not in skip]
            _STATEMENTS[key] = self._build(entities, patterns, fields, paths, poi)
        return _STATEMENTS[key]

    def _build(
        self,
        entities: bool,
        patterns: bool,
        fields: list[dict[str, Any]],
        paths: dict[str, tuple[str, ...]],
        poi: tuple[str, str],
    ) -> tuple[Any, list[tuple[str, str]]]:
        e, r, sql = NgsiEntity, DatasetRecord, self.sql
        col = e.attrs if entities else r.payload
        values = [
            c for i, f in enumerate(fields) for c in sql.extract(col, paths[f["name"]], f"v{i}")
        ]
        if entities:  # what the consistency check groups by, from the same pass
            cx = sql.floor((e.min_x + e.max_x) / 2 / CELL_DEG)
            cy = sql.floor((e.min_y + e.max_y) / 2 / CELL_DEG)
            values += [e.id.label("rid"), cx.label("cx"), cy.label("cy")]
            values += sql.extract(col, poi, "poi")
            where = and_(e.dataset == SLUG, e.observed_at >= START, e.observed_at <= NOW)
        else:
            where = and_(r.dataset_id == SLUG, r.updated_at >= START, r.updated_at <= NOW)
        sub = sql.materialized(select(*values).where(where), "qv")
        sums: list[tuple[str, str, Any]] = []
        for i, f in enumerate(fields):
            name, spec = f["name"], f.get("constraints") or {}
            present, num, text = sql.classify(sub, f"v{i}")
            sums.append((name, "missing", case((present, 0), else_=1)))
            bad = []
            if f.get("type") in ("integer", "number"):
                if "minimum" in spec:
                    bad.append(num < float(spec["minimum"]))
                if "maximum" in spec:
                    bad.append(num > float(spec["maximum"]))
            if isinstance(spec.get("enum"), list) and spec["enum"]:
                allowed = [str(v) for v in spec["enum"]]
                bad.append(and_(text.is_not(None), text.not_in(allowed)))
            if patterns and isinstance(spec.get("pattern"), str):
                anchored = f"^(?:{spec['pattern']})$"
                bad.append(and_(text.is_not(None), ~text.regexp_match(anchored)))
            if bad:
                sums.append((name, "violations", case((or_(*bad), 1), else_=0)))
                sums.append((name, "constrained", case((present, 1), else_=0)))
        cols = [func.count()] + [func.coalesce(func.sum(x), 0) for _, _, x in sums]
        if entities:
            cols += [self._groups_of(sub, sub.c.poi), self._groups_of(sub, sub.c.cx, sub.c.cy)]
        return select(*cols).select_from(sub), [(n, k) for n, k, _ in sums]

    def _groups_of(self, sub: Any, *key: Any) -> Any:
        """A scalar subquery: the row ids of each group of ``key`` with two or more entities
        (a JSON list of comma-separated id lists)."""
        ids = select(self.sql.id_list(sub.c.rid).label("ids")).where(*(k.is_not(None) for k in key))
        groups = ids.group_by(*key).having(func.count() > 1).limit(MAX_GROUPS).subquery()
        return select(self.sql.json_list(groups.c.ids)).scalar_subquery()

    def _field_stats(self, patterns: bool) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = {}
        params = {"q_slug": self.d.slug, "q_start": self.d.start, "q_now": self.now}
        for entities in (False, True) if self.entity_count else (False,):
            stmt, measures = self._statement(entities, patterns)
            row = self.s.execute(stmt, params).one()
            if entities:
                self.poi_groups, self.cell_groups = (_id_lists(g) for g in row[-2:])
            for (name, kind), value in zip(measures, row[1 : len(measures) + 1], strict=True):
                entry = stats.setdefault(name, {"rows": 0, "missing": 0})
                entry[kind] = entry.get(kind, 0) + int(value)
                entry["rows"] += int(row[0]) if kind == "missing" else 0
        return stats

    def field_stats(self) -> dict[str, dict[str, int]]:
        """Per field, over the records updated and the entities modified in the window: rows,
        missing, constrained (values checked) and violations. A pattern the database's regex
        engine refuses is left out rather than failing the round."""
        if self._stats is None:
            try:
                with self.s.begin_nested():
                    self._stats = self._field_stats(patterns=True)
            except DBAPIError:
                self._stats = self._field_stats(patterns=False)
        return self._stats

    def completeness(self) -> ScoreCard:
        """Required fields missing, entities that stopped reporting, empty optional fields."""
        d, now, e = self.d, self.now, NgsiEntity
        stats = self.field_stats()
        items: list[Evidence] = []
        required = [f["name"] for f in d.fields if (f.get("constraints") or {}).get("required")]
        req = [(n, stats[n]) for n in required if stats.get(n, {}).get("rows")]
        cells = sum(s["rows"] for _, s in req)
        if cells:
            missing = [s["missing"] for _, s in req]
            total = points("required_missing", sum(missing) / cells)
            for (name, s), pts in zip(req, split(total, missing), strict=True):
                if pts:
                    args = {"field": name, "missing": s["missing"], "rows": s["rows"]}
                    items.append(evidence("required_missing", pts, [f"field:{name}"], **args))
        for name, s in stats.items():
            if name not in required and s["rows"] and s["missing"] / s["rows"] >= NULL_INFO_RATE:
                args = {"field": name, "rate": s["missing"] / s["rows"]}
                items.append(evidence("null_rate", 0, [f"field:{name}"], **args))
        if d.freq is not None and self.entity_count and now - SILENT_FACTOR * d.freq > d.start:
            active, n_silent = self.active_count, self.silent_count
            if active and (pts := points("silent_entities", n_silent / active)):
                stmt = select(e.entity_id).where(self.silent).order_by(e.observed_at.desc())
                refs = self._refs(stmt, "entity")
                args = {"silent": n_silent, "active": active, "factor": SILENT_FACTOR}
                items.append(evidence("silent_entities", pts, refs, **args))
        return self._card("completeness", items)

    # -- accuracy -----------------------------------------------------------------------------
    def accuracy(self) -> ScoreCard:
        """Quarantined rows, stream dead letters, constraint violations in stored values,
        co-located sources that disagree."""
        d, now, b, dl = self.d, self.now, IngestBatch, StreamDeadLetter
        items: list[Evidence] = []
        if self.rows and self.bad_rows:
            bad = and_(self.batch_window, b.rows_accepted < b.rows_total)
            order = (b.rows_total - b.rows_accepted).desc()
            refs = self._refs(select(b.id).where(bad).order_by(order, b.id), "batch")
            seqs = select(b.ledger_seq).where(bad, b.ledger_seq.is_not(None)).order_by(b.id)
            refs += self._refs(seqs, "ledger")
            pts = points("quarantined_rows", self.bad_rows / self.rows)
            items.append(evidence("quarantined_rows", pts, refs, bad=self.bad_rows, rows=self.rows))
        prefix = f"citybrain/{d.provider}/{d.slug}/"  # topics of the provider's own streams
        dead = and_(
            dl.topic >= prefix,
            dl.topic < prefix[:-1] + "0",
            dl.received_at >= d.start,
            dl.received_at <= now,
        )
        if n_dead := int(self.s.scalar(select(func.count()).where(dead)) or 0):
            refs = self._refs(select(dl.id).where(dead).order_by(dl.id.desc()), "dead-letter")
            pts = points("dead_letters", n_dead / (n_dead + self.stream_rows))
            args = {"dead": n_dead, "stream": self.stream_rows}
            items.append(evidence("dead_letters", pts, refs, **args))
        stats = self.field_stats()
        checked = sum(s.get("constrained", 0) for s in stats.values())
        bad_fields = [(n, s["violations"]) for n, s in stats.items() if s.get("violations")]
        if checked and bad_fields:
            total = points("out_of_range", sum(v for _, v in bad_fields) / checked)
            shares = split(total, [v for _, v in bad_fields])
            specs = {f["name"]: f for f in d.fields}
            for (name, v), pts in zip(bad_fields, shares, strict=True):
                args = {"field": name, "bad": v, "checked": stats[name]["constrained"]}
                rule = _constraint_text(specs[name])
                items.append(
                    evidence("out_of_range", pts, [f"field:{name}"], constraint=rule, **args)
                )
        items += self._consistency()
        return self._card("accuracy", items)

    def _groups(self) -> list[list[tuple[str, Any, Any]]]:
        """Candidate redundant sources among the entities active in the window: those naming
        the same refPointOfInterest, and those whose centres share a CELL_DEG grid cell (the
        caller keeps pairs within NEARBY_M metres). At most MAX_GROUPS groups of each kind and
        MAX_GROUP_SIZE entities per group. Each group: [(entity id, attrs, centre or None)]."""
        e = NgsiEntity
        self.field_stats()  # finds the groups in the same pass
        groups = [(False, g[:MAX_GROUP_SIZE]) for g in self.poi_groups]
        groups += [(True, g[:MAX_GROUP_SIZE]) for g in self.cell_groups]
        wanted = {i for _, ids in groups for i in ids}
        rows = {}
        if wanted:
            x, y = (e.min_x + e.max_x) / 2, (e.min_y + e.max_y) / 2
            stmt = select(e.id, e.entity_id, e.attrs, x, y).where(e.id.in_(wanted))
            rows = {r[0]: r for r in self.s.execute(stmt)}
        return [
            [
                (rows[i][1], rows[i][2], (rows[i][3], rows[i][4]) if by_location else None)
                for i in ids
            ]
            for by_location, ids in groups
        ]

    def _consistency(self) -> list[Evidence]:
        """Co-located pairs compared on their shared numeric fields (see ``_groups``)."""
        numeric = {f["name"] for f in self.d.fields if f.get("type") in ("integer", "number")}
        iris = [self.iris[n] for n in numeric if n in self.iris]
        if not iris:
            return []
        compared: dict[tuple[str, str], bool] = {}
        for group in self._groups():
            for i, (a, attrs_a, at_a) in enumerate(group):
                for b, attrs_b, at_b in group[i + 1 :]:
                    if at_a is not None and metres(at_a, at_b) > NEARBY_M:
                        continue
                    verdict = disagree(attrs_a, attrs_b, iris)
                    if verdict is not None:
                        compared[(a, b)] = compared.get((a, b), False) or verdict
        bad = [pair for pair, verdict in compared.items() if verdict]
        if not bad:
            return []
        refs = [f"entity:{i}" for pair in bad[: MAX_REFS // 2] for i in pair]
        pts = points("inconsistent_sources", len(bad) / len(compared))
        args = {"bad": len(bad), "pairs": len(compared), "tolerance": REL_TOLERANCE}
        return [evidence("inconsistent_sources", pts, refs, **args)]

    # -- authenticity -------------------------------------------------------------------------
    def authenticity(self) -> ScoreCard:
        """Share of rows that arrived in batches whose Ed25519 signature verified."""
        b = IngestBatch
        items: list[Evidence] = []
        for rule, n, cond in (
            ("unsigned_rows", self.unsigned, b.signature_verified.is_(None)),
            ("invalid_signature", self.invalid, b.signature_verified.is_(False)),
        ):
            if self.rows and n:
                stmt = select(b.id).where(self.batch_window, cond).order_by(b.id.desc())
                pts = points(rule, n / self.rows)
                items.append(evidence(rule, pts, self._refs(stmt, "batch"), bad=n, rows=self.rows))
        return self._card("authenticity", items)


def _constraint_text(spec: dict[str, Any]) -> str:
    c = spec.get("constraints") or {}
    parts = [f"{k}={c[k]}" for k in ("minimum", "maximum", "pattern") if k in c]
    if isinstance(c.get("enum"), list):
        parts.append("enum=" + "|".join(str(v) for v in c["enum"]))
    return ", ".join(parts)


def _id_lists(value: Any) -> list[list[int]]:
    """``[[1, 2], ...]`` from a JSON list of comma-separated ids (text on SQLite)."""
    lists = json.loads(value) if isinstance(value, str) else (value or [])
    return [sorted(int(i) for i in str(ids).split(",")) for ids in lists]
