"""Generalisation hierarchies: ARX CSV files, generated number/date/category hierarchies."""

from __future__ import annotations

from pathlib import Path

import pytest

from citybrain.governance.privacy.hierarchy import (
    TOP,
    Hierarchy,
    categorical_hierarchy,
    date_hierarchy,
    find_hierarchy_file,
    from_rows,
    hierarchies_for,
    infer_hierarchy,
    load_arx_csv,
    numeric_hierarchy,
)
from citybrain.kernel.errors import InvalidInput

ADULT = Path(__file__).resolve().parents[3] / "bench" / "data" / "adult_hierarchies"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def assert_functional(h: Hierarchy) -> None:
    """Every level determines the next one, and the top is ``*``."""
    for level in range(h.height):
        parent: dict[str, str] = {}
        for row in h.table.values():
            assert parent.setdefault(row[level], row[level + 1]) == row[level + 1]
    assert {row[-1] for row in h.table.values()} == {TOP}
    assert all(row[0] == value for value, row in h.table.items())


def test_arx_csv_semicolons(tmp_path: Path) -> None:
    path = write(
        tmp_path / "zip.csv", "13053;1305*;130**;*\n13068;1306*;130**;*\n14850;1485*;148**;*\n"
    )
    h = load_arx_csv(path, "zip")
    assert h.height == 3
    assert h.row("13068") == ("13068", "1306*", "130**", "*")
    assert h.generalise("14850", 2) == "148**"
    assert_functional(h)


def test_arx_csv_commas_and_missing_top(tmp_path: Path) -> None:
    path = write(tmp_path / "sex.csv", "male,person\nfemale,person\n\n")
    h = load_arx_csv(path, "sex")
    assert h.height == 2  # a `*` level is added on top
    assert h.row("female") == ("female", "person", "*")


def test_arx_csv_keeps_commas_inside_labels_when_semicolons(tmp_path: Path) -> None:
    path = write(tmp_path / "age.csv", "1;[0, 5[;*\n6;[5, 10[;*\n")
    assert load_arx_csv(path, "age").row("6") == ("6", "[5, 10[", "*")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a;x;*\nb;y\nc;y;*\n", 2, "2 levels, expected 3"),
        ("a;x;*\nb;x;*\n\nc;;*\n", 4, "empty label"),
        ("a;x;*\nb;x;*\na;y;*\n", 3, "listed twice"),
        ("a;x;p;*\nb;x;q;*\n", 2, "generalises to both"),
    ],
)
def test_malformed_file_names_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path / "col.csv", text)
    with pytest.raises(InvalidInput) as err:
        load_arx_csv(path, "col")
    assert err.value.field == "hierarchies"
    assert f"line {line}" in err.value.detail and words in err.value.detail
    assert err.value.extra["line"] == line


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        load_arx_csv(write(tmp_path / "x.csv", "\n\n"), "x")


def test_unknown_value_names_column_and_value() -> None:
    h = from_rows("race", [("White", "*"), ("Black", "*")])
    with pytest.raises(InvalidInput) as err:
        h.row("Martian")
    assert "race" in err.value.detail and "Martian" in err.value.detail
    assert err.value.extra == {"column": "race", "value": "Martian"}


def test_file_naming_conventions(tmp_path: Path) -> None:
    write(tmp_path / "age.csv", "1;*\n")
    write(tmp_path / "adult_hierarchy_native-country.csv", "Cuba;*\n")
    assert find_hierarchy_file(tmp_path, "age") == tmp_path / "age.csv"
    assert find_hierarchy_file(tmp_path, "native-country") == (
        tmp_path / "adult_hierarchy_native-country.csv"
    )
    assert find_hierarchy_file(tmp_path, "sex") is None


def test_shipped_adult_hierarchies_are_arx_shaped() -> None:
    heights = {
        "age": 4,
        "education": 3,
        "marital-status": 2,
        "occupation": 2,
        "race": 1,
        "sex": 1,
        "native-country": 2,
        "workclass": 2,
    }
    for column, height in heights.items():
        path = find_hierarchy_file(ADULT, column)
        assert path is not None and path.name == f"adult_hierarchy_{column}.csv"
        h = load_arx_csv(path, column)
        assert h.height == height, column
        assert_functional(h)
    age = load_arx_csv(ADULT / "adult_hierarchy_age.csv", "age")
    assert age.row("37") == ("37", "35-39", "30-39", "20-39", "*")
    assert len(age.table) == 100


def test_numeric_intervals_double_until_one_interval() -> None:
    h = numeric_hierarchy("age", ["17", "23", "64", "23"])
    assert h.row("23") == ("23", "20-24", "20-29", "20-39", "0-39", "*")
    assert h.row("64") == ("64", "60-64", "60-69", "60-79", "40-79", "*")
    assert h.height == 5  # widths 5, 10, 20, 40 (80 would hold every value), then *
    assert_functional(h)


def test_numeric_decimals_negatives_and_blanks() -> None:
    h = numeric_hierarchy("t", ["-3", "2.5", "", "11"])
    assert h.row("2.5")[1] == "[0, 5)"
    assert h.row("-3")[1] == "[-5, 0)"
    assert h.row("") == ("",) * h.height + ("*",)
    assert_functional(h)
    ints = numeric_hierarchy("n", ["-3", "4"])
    assert ints.row("-3")[1] == "[-5, -1]"


def test_numeric_rejects_text() -> None:
    with pytest.raises(InvalidInput) as err:
        numeric_hierarchy("income", ["100", "lots"])
    assert "income" in err.value.detail and "lots" in err.value.detail


def test_dates() -> None:
    h = date_hierarchy("day", ["2023-05-17", "1999-12-31"])
    assert h.row("2023-05-17") == ("2023-05-17", "2023-05", "2023", "2020-2029", "*")
    assert h.generalise("1999-12-31", 3) == "1990-1999"
    assert_functional(h)
    for bad in ("2023-02-30", "17/05/2023"):
        with pytest.raises(InvalidInput, match="day"):
            date_hierarchy("day", [bad])


def test_inference_and_categorical_default() -> None:
    assert infer_hierarchy("d", ["2020-01-01", ""]).height == 4
    assert infer_hierarchy("n", ["1", "20", "7"]).row("7")[1] == "5-9"
    cat = infer_hierarchy("c", ["a", "b", "1"])
    assert cat.row("a") == ("a", "*") and cat.height == 1
    assert categorical_hierarchy("c", ["x"]).table == {"x": ("x", "*")}


def test_hierarchies_for_mixes_files_and_generated(tmp_path: Path) -> None:
    write(tmp_path / "sex.csv", "M;*\nF;*\n")
    columns = {"sex": ["M", "F"], "age": ["30", "41"], "job": ["a", "b"]}
    hs = hierarchies_for(columns, ["sex", "age", "job"], tmp_path)
    assert hs["sex"].source == str(tmp_path / "sex.csv")
    assert hs["age"].source == "generated" and hs["age"].row("41")[1] == "40-44"
    assert hs["job"].height == 1
    with pytest.raises(InvalidInput) as err:
        hierarchies_for(columns, ["sex", "height"], tmp_path)
    assert err.value.field == "qi" and "height" in err.value.detail
    with pytest.raises(InvalidInput, match="does not exist"):
        hierarchies_for(columns, ["sex"], tmp_path / "nope")
