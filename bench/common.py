"""Shared bench helpers: a throwaway PostgreSQL schema so benchmarks never touch real tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def database_url(url: str | None) -> Iterator[str | None]:
    """Yield ``url``; for a PostgreSQL URL, a fresh schema on its search path, dropped after."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    schema = "cb_bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
