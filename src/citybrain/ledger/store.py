"""Hot-path statements as prepared driver SQL (``Connection.exec_driver_sql``).

Appends and node look-ups run thousands of times a second; building SQLAlchemy Core statements
for each costs more than the database work. These statements are rendered once per dialect and
executed with plain tuples, still through the session's connection, so they share its transaction
and SQLAlchemy still wraps driver errors (``sqlalchemy.exc.DBAPIError``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Dialect, Table, insert

from citybrain.ledger.merkle import EMPTY_ROOT
from citybrain.ledger.models import LedgerEntry, LedgerHead, LedgerNode

ENTRIES: Table = LedgerEntry.__table__  # type: ignore[assignment]
NODES: Table = LedgerNode.__table__  # type: ignore[assignment]
HEAD: Table = LedgerHead.__table__  # type: ignore[assignment]
ENTRY_COLUMNS = (
    "seq", "ts", "actor", "organisation", "action", "resource", "purpose", "decision",
    "policy_ids", "request_id", "leaf_hash",
)  # fmt: skip
HEAD_COLUMNS = ("size", "root_hash", "frontier", "last_checkpoint_size", "last_checkpoint_ts")


class HeadRow(NamedTuple):
    """The head row as the append path reads it."""

    size: int
    root_hash: bytes
    frontier: bytes
    last_checkpoint_size: int
    last_checkpoint_ts: datetime | None


class Statements:
    """The ledger's hot statements rendered for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        style = dialect.paramstyle
        if style == "qmark":
            ph = "?"
        elif style in ("format", "pyformat"):
            ph = "%s"
        else:  # pragma: no cover - no such driver in use
            raise NotImplementedError(f"ledger: unsupported DB-API paramstyle {style!r}")
        self.dialect = dialect
        self.ph = ph
        q = dialect.identifier_preparer
        entries, nodes, head = (q.format_table(t) for t in (ENTRIES, NODES, HEAD))
        self._key, self._hash = q.quote("key"), q.quote("hash")
        ecols = ", ".join(q.quote(c) for c in ENTRY_COLUMNS)
        self.insert_entries = f"INSERT INTO {entries} ({ecols}) VALUES ({', '.join([ph] * 11)})"
        self.insert_nodes = f"INSERT INTO {nodes} ({self._key}, {self._hash}) VALUES ({ph}, {ph})"
        hcols = ", ".join(q.quote(c) for c in HEAD_COLUMNS)
        lock = " FOR UPDATE" if dialect.name in ("postgresql", "mysql", "mariadb") else ""
        self.select_head = f"SELECT {hcols} FROM {head} WHERE id = 1{lock}"
        sets = ", ".join(f"{q.quote(c)} = {ph}" for c in HEAD_COLUMNS)
        self.update_head = f"UPDATE {head} SET {sets} WHERE id = 1"
        self._select_nodes = f"SELECT {self._key}, {self._hash} FROM {nodes} WHERE {self._key} IN "
        # PostgreSQL: all writes of an append in one statement (one round trip), as a
        # data-modifying CTE; other databases run three statements (in-process for SQLite).
        self._one_statement = dialect.name == "postgresql"
        # Column arrays through unnest(): the statement text is the same for every batch size,
        # so psycopg parses it once and the server prepares it (a VALUES list per batch size
        # would be re-parsed on every call).
        casts = ("bigint", "timestamptz", *(["text"] * 8), "bytea")
        arrays = ", ".join(f"{ph}::{c}[]" for c in casts)
        self._cte_head = (
            f"WITH e AS (INSERT INTO {entries} ({ecols}) SELECT * FROM unnest({arrays})), "
            f"n AS (INSERT INTO {nodes} ({self._key}, {self._hash}) "
            f"SELECT * FROM unnest({ph}::bigint[], {ph}::bytea[])) "
            f"UPDATE {head} SET {sets} WHERE id = 1"
        )
        self._in_sql: dict[int, str] = {}
        ts_type = ENTRIES.c.ts.type.dialect_impl(dialect)
        self.ts_in: Callable[[Any], Any] | None = ts_type.bind_processor(dialect)
        self.ts_out: Callable[[Any], Any] | None = ts_type.result_processor(dialect, None)

    def bind_ts(self, ts: datetime | None) -> Any:
        """A datetime as this driver stores it."""
        return ts if ts is None or self.ts_in is None else self.ts_in(ts)

    def lock_head(self, conn: Connection) -> HeadRow | None:
        """Read (and on PostgreSQL lock) the head row."""
        row = conn.exec_driver_sql(self.select_head).first()
        if row is None:
            return None
        size, root, frontier, lcs, lcts = row
        if lcts is not None and self.ts_out is not None:
            lcts = self.ts_out(lcts)
        return HeadRow(size, bytes(root), bytes(frontier), lcs or 0, lcts)

    def create_head(self, conn: Connection) -> None:
        """Insert the empty head row unless a concurrent writer already did."""
        values = {
            "id": 1,
            "size": 0,
            "root_hash": EMPTY_ROOT,
            "frontier": b"",
            "last_checkpoint_size": 0,
            "last_checkpoint_ts": None,
        }
        name = self.dialect.name
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(HEAD).values(values).on_conflict_do_nothing())
        elif name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            conn.execute(sqlite_insert(HEAD).values(values).on_conflict_do_nothing())
        else:
            conn.execute(insert(HEAD).values(values))

    def write(
        self,
        conn: Connection,
        entries: list[tuple[Any, ...]],
        nodes: list[tuple[int, bytes]],
        head: HeadRow,
    ) -> None:
        """Insert entry and node rows; update the head."""
        head_params = (*head[:4], self.bind_ts(head.last_checkpoint_ts))
        if self._one_statement:
            columns = [list(col) for col in zip(*entries, strict=True)]
            node_columns = [list(col) for col in zip(*nodes, strict=True)] or [[], []]
            conn.exec_driver_sql(self._cte_head, (*columns, *node_columns, *head_params))
            return
        conn.exec_driver_sql(self.insert_entries, entries)
        conn.exec_driver_sql(self.insert_nodes, nodes)
        conn.exec_driver_sql(self.update_head, head_params)

    def fetch_nodes(self, conn: Connection, keys: Sequence[int]) -> list[tuple[int, bytes]]:
        """(key, hash) of the stored nodes among ``keys`` (at most a few hundred keys)."""
        n = len(keys)
        sql = self._in_sql.get(n)
        if sql is None:
            sql = self._in_sql[n] = f"{self._select_nodes}({', '.join([self.ph] * n)})"
        rows = conn.exec_driver_sql(sql, tuple(keys)).fetchall()
        return [(k, h if type(h) is bytes else bytes(h)) for k, h in rows]
