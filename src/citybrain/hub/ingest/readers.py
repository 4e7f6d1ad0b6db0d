"""Parse uploaded bytes into rows: CSV (encoding detected), JSON, JSON Lines and Parquet.

Every reader yields ``(line, row)`` so that errors can name where a row came from:
CSV counts physical lines with the header as line 1 (a quoted cell spanning lines moves the
count on); JSON Lines counts lines; a JSON array and Parquet count items from 1 (so a JSON
array's first object is "line 1"). Malformed input raises InvalidInput naming line and field.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from citybrain.kernel.errors import InvalidInput

FORMATS = ("csv", "json", "jsonl", "parquet")
MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
CHINESE_ENCODINGS = frozenset(
    {"gb18030", "gbk", "gb2312", "cp936", "hz", "big5", "big5hkscs", "cp950", "iso2022_cn"}
)
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
Row = tuple[int, dict[str, Any]]


def format_of(media_type: str | None, filename: str | None = None) -> str:
    """The format named by a media type (parameters ignored) or, failing that, a file name."""
    base = (media_type or "").split(";")[0].strip().lower()
    if base in MEDIA_TYPES:
        return MEDIA_TYPES[base]
    if filename:
        for ext, fmt in EXTENSIONS.items():
            if filename.lower().endswith(ext):
                return fmt
    raise InvalidInput(
        f"unsupported content type {base or '(none)'!r}; use one of {', '.join(MEDIA_TYPES)}",
        field="Content-Type",
    )


def check_size(data: bytes, max_bytes: int) -> None:
    """InvalidInput naming the limit when ``data`` is larger than ``max_bytes``."""
    if len(data) > max_bytes:
        raise InvalidInput(
            f"the upload is {len(data)} bytes, over the limit of {max_bytes} bytes",
            field="body",
            limit=max_bytes,
        )


def _line_at(text_bytes: bytes, offset: int) -> int:
    return text_bytes.count(b"\n", 0, offset) + 1


def detect_encoding(data: bytes) -> str:
    """The encoding of CSV bytes: UTF-8 (with or without BOM), else what charset-normalizer
    finds; when the text may be Chinese, GB18030 (the superset of GBK and GB2312) wins."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    guess = codecs.lookup(best.encoding).name if best is not None else None
    if guess in CHINESE_ENCODINGS or (best is not None and "Chinese" in best.languages):
        guess = "gb18030"
    if guess != "gb18030":
        # Short Chinese texts are often taken for a single-byte code page; prefer GB18030
        # when it decodes cleanly into mostly CJK characters.
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            text = ""
        wide = [c for c in text if ord(c) > 127]
        if wide and sum(1 for c in wide if _CJK.match(c)) >= 0.8 * len(wide):
            guess = "gb18030"
    if guess is None:
        raise InvalidInput(
            "cannot tell the text encoding; pass encoding= (utf-8, gb18030, ...)", field="encoding"
        )
    return guess


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding used): ``encoding`` if given, else detected; errors name the line."""
    if encoding:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise InvalidInput(f"unknown encoding {encoding!r}", field="encoding") from None
        if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
    else:
        encoding = detect_encoding(data)
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line = _line_at(data, exc.start)
        raise InvalidInput(
            f"line {line}: bytes at offset {exc.start} are not valid {encoding}",
            field="encoding",
            line=line,
        ) from None


def _check_columns(header: Sequence[str], columns: Sequence[str] | None) -> None:
    if columns is None:
        return
    unknown = [c for c in header if c not in columns]
    missing = [c for c in columns if c not in header]
    if unknown:
        raise InvalidInput(
            f"line 1: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"the schema has {', '.join(map(repr, columns))}",
            field=unknown[0],
            line=1,
        )
    if missing:
        raise InvalidInput(
            f"line 1: missing column(s) {', '.join(map(repr, missing))}",
            field=missing[0],
            line=1,
        )


def read_csv(
    data: bytes, *, columns: Sequence[str] | None = None, encoding: str | None = None
) -> tuple[str, Iterator[Row]]:
    """(encoding, rows) of a CSV with a header row; the header is checked against ``columns``."""
    text, used = decode(data, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("empty upload: a header row is required", field="body", line=1) from None
    except csv.Error as exc:
        raise InvalidInput(f"line 1: {exc}", field="header", line=1) from None
    header = [h.strip() for h in header]
    if not header or all(not h for h in header):
        raise InvalidInput("line 1: a header row is required", field="header", line=1)
    for i, name in enumerate(header):
        if not name:
            raise InvalidInput(f"line 1: column {i + 1} has no name", field="header", line=1)
        if name in header[:i]:
            raise InvalidInput(f"line 1: column {name!r} appears twice", field=name, line=1)
    _check_columns(header, columns)
    return used, _csv_rows(reader, header)


def _csv_rows(reader: Any, header: list[str]) -> Iterator[Row]:
    width = len(header)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(f"line {start}: {exc}", field="row", line=start) from None
        line, start = start, reader.line_num + 1
        if not cells:
            continue
        if len(cells) != width:
            raise InvalidInput(
                f"line {line}: {len(cells)} cells but the header has {width} columns",
                field=header[min(len(cells), width) - 1] if cells else header[0],
                line=line,
            )
        yield line, dict(zip(header, cells, strict=True))


def _object(value: Any, line: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(
            f"line {line}: expected a JSON object, got {type(value).__name__}",
            field="row",
            line=line,
        )
    return value


def read_json(data: bytes, *, encoding: str | None = None) -> Iterator[Row]:
    """Rows of a JSON array of objects (line = position of the object, from 1)."""
    text, _ = decode(data, encoding or "utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})",
            field="body",
            line=exc.lineno,
        ) from None
    if not isinstance(doc, list):
        raise InvalidInput("expected a JSON array of objects", field="body")
    return ((i, _object(item, i)) for i, item in enumerate(doc, start=1))


def read_jsonl(data: bytes, *, encoding: str | None = None) -> Iterator[Row]:
    """Rows of JSON Lines: one object per line; blank lines are skipped but counted."""
    text, _ = decode(data, encoding or "utf-8")

    def rows() -> Iterator[Row]:
        for i, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    f"line {i}, column {exc.colno}: not valid JSON ({exc.msg})",
                    field="row",
                    line=i,
                ) from None
            yield i, _object(value, i)

    return rows()


def read_parquet(data: bytes, *, columns: Sequence[str] | None = None) -> Iterator[Row]:
    """Rows of a Parquet file as Python values (line = row number, from 1)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"not a Parquet file: {exc}", field="body") from None
    _check_columns(pf.schema_arrow.names, columns)

    def rows() -> Iterator[Row]:
        line = 0
        try:
            for batch in pf.iter_batches(batch_size=10_000):
                for row in batch.to_pylist():
                    line += 1
                    yield line, row
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInput(
                f"line {line + 1}: unreadable Parquet data: {exc}", field="body", line=line + 1
            ) from None

    return rows()


def read_rows(
    data: bytes,
    fmt: str,
    *,
    columns: Sequence[str] | None = None,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[str | None, Iterator[Row]]:
    """(text encoding or None, rows) of ``data`` in format ``fmt`` (csv, json, jsonl, parquet).

    ``columns`` (the schema's field names) checks CSV and Parquet headers by name.
    """
    check_size(data, max_bytes)
    if fmt == "csv":
        return read_csv(data, columns=columns, encoding=encoding)
    if fmt == "json":
        return encoding or "utf-8", read_json(data, encoding=encoding)
    if fmt == "jsonl":
        return encoding or "utf-8", read_jsonl(data, encoding=encoding)
    if fmt == "parquet":
        return None, read_parquet(data, columns=columns)
    raise InvalidInput(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", field="format")
