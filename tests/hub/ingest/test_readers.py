"""Readers: encodings detected, every format parsed, malformed input named by line and field."""

from __future__ import annotations

import io
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from citybrain.hub.ingest import readers
from citybrain.kernel.errors import InvalidInput

CHINESE_CSV = "站点,名称,数值\nA01,西湖区环境监测站,35\nA02,拱墅区交通信号灯配时,12\n"
COLUMNS = ["站点", "名称", "数值"]


def rows_of(data: bytes, fmt: str = "csv", **kw: object) -> tuple[str | None, list]:
    enc, rows = readers.read_rows(data, fmt, **kw)  # type: ignore[arg-type]
    return enc, list(rows)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (CHINESE_CSV.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + CHINESE_CSV.encode("utf-8"), "utf-8-sig"),
        (CHINESE_CSV.encode("gbk"), "gb18030"),
        (CHINESE_CSV.encode("gb18030"), "gb18030"),
    ],
)
def test_csv_encodings_are_detected(data: bytes, expected: str) -> None:
    enc, rows = rows_of(data, columns=COLUMNS)
    assert enc == expected
    assert rows == [
        (2, {"站点": "A01", "名称": "西湖区环境监测站", "数值": "35"}),
        (3, {"站点": "A02", "名称": "拱墅区交通信号灯配时", "数值": "12"}),
    ]


def test_short_gbk_text_prefers_gb18030() -> None:
    assert readers.detect_encoding("名称\n交通\n".encode("gbk")) == "gb18030"


def test_explicit_encoding_overrides_and_wrong_encoding_names_the_line() -> None:
    data = CHINESE_CSV.encode("gbk")
    assert rows_of(data, encoding="gbk")[0] == "gbk"
    with pytest.raises(InvalidInput) as err:
        rows_of(data, encoding="utf-8")
    assert err.value.field == "encoding" and err.value.detail.startswith("line 1:")
    with pytest.raises(InvalidInput) as err:
        rows_of(data, encoding="klingon")
    assert err.value.field == "encoding"


def test_csv_header_problems_are_named() -> None:
    with pytest.raises(InvalidInput, match="header row is required"):
        rows_of(b"")
    with pytest.raises(InvalidInput, match="unknown column") as err:
        rows_of("站点,名称,数值,颜色\n".encode(), columns=COLUMNS)
    assert err.value.field == "颜色"
    with pytest.raises(InvalidInput, match="missing column") as err:
        rows_of("站点,名称\n".encode(), columns=COLUMNS)
    assert err.value.field == "数值"
    with pytest.raises(InvalidInput, match="appears twice"):
        rows_of(b"a,a\n1,2\n")


def test_csv_lines_count_physical_lines() -> None:
    data = b'a,b\n1,"two\nlines"\n\n3,4\n5\n'
    _, rows = readers.read_rows(data, "csv")
    assert next(rows) == (2, {"a": "1", "b": "two\nlines"})
    assert next(rows) == (5, {"a": "3", "b": "4"})
    with pytest.raises(InvalidInput) as err:
        next(rows)
    assert err.value.detail.startswith("line 6:") and err.value.extra["line"] == 6


def test_json_array_and_json_lines() -> None:
    _, rows = rows_of(b'[{"a": 1}, {"a": 2}]', "json")
    assert rows == [(1, {"a": 1}), (2, {"a": 2})]
    with pytest.raises(InvalidInput, match="line 2"):
        rows_of(b'[{"a": 1},\n {"a": }]', "json")
    with pytest.raises(InvalidInput, match="JSON array"):
        rows_of(b'{"a": 1}', "json")
    with pytest.raises(InvalidInput, match="line 2: expected a JSON object"):
        rows_of(b'[{"a": 1}, 3]', "json")
    _, rows = rows_of(b'{"a": 1}\n\n{"a": 2}\n', "jsonl")
    assert rows == [(1, {"a": 1}), (3, {"a": 2})]
    with pytest.raises(InvalidInput, match="line 2, column") as err:
        rows_of(b'{"a": 1}\n{"a": \n', "jsonl")
    assert err.value.field == "row"


def test_parquet_columns_become_python_values() -> None:
    table = pa.table({"id": [1, 2], "name": ["甲", None], "day": [date(2024, 1, 1)] * 2})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    enc, rows = rows_of(buf.getvalue(), "parquet", columns=["id", "name", "day"])
    assert enc is None
    assert rows == [
        (1, {"id": 1, "name": "甲", "day": date(2024, 1, 1)}),
        (2, {"id": 2, "name": None, "day": date(2024, 1, 1)}),
    ]
    with pytest.raises(InvalidInput, match="unknown column"):
        rows_of(buf.getvalue(), "parquet", columns=["id", "name"])
    with pytest.raises(InvalidInput, match="not a Parquet file"):
        rows_of(b"PAR1 nonsense", "parquet")


def test_size_limit_names_the_limit() -> None:
    with pytest.raises(InvalidInput, match="over the limit of 10 bytes") as err:
        rows_of(b"a\n" * 10, max_bytes=10)
    assert err.value.extra["limit"] == 10


def test_formats_from_media_types_and_file_names() -> None:
    assert readers.format_of("text/csv; charset=gbk") == "csv"
    assert readers.format_of("application/x-ndjson") == "jsonl"
    assert readers.format_of("application/vnd.apache.parquet") == "parquet"
    assert readers.format_of("application/octet-stream", "空气.parquet") == "parquet"
    with pytest.raises(InvalidInput) as err:
        readers.format_of("text/plain")
    assert err.value.field == "Content-Type"
