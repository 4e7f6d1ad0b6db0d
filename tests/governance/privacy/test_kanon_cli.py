"""`citybrain privacy kanon` end to end on small CSVs; bad input raises InvalidInput."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from pycanon import anonymity
from typer.testing import CliRunner

from citybrain.governance.privacy.cli import app as privacy_app
from citybrain.kernel.errors import InvalidInput

root = typer.Typer()
root.add_typer(privacy_app, name="privacy")
runner = CliRunner(env={"COLUMNS": "200"})
REPO = Path(__file__).resolve().parents[3]
HEADER = ["id", "age", "sex", "zip", "disease"]


@root.callback()
def _root() -> None:
    """A root like the real one."""


def people(path: Path, n: int = 120, seed: int = 3) -> Path:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            w.writerow(
                [
                    f"p{i}",
                    rng.randint(18, 80),
                    rng.choice("MF"),
                    rng.choice(["13053", "13068", "14850", "14853"]),
                    rng.choice(["flu", "cold", "hiv", "covid"]),
                ]
            )
    return path


def zip_hierarchy(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "zip.csv").write_text(
        "13053;1305*;130**;*\n13068;1306*;130**;*\n14850;1485*;148**;*\n14853;1485*;148**;*\n",
        encoding="utf-8",
    )
    return folder


def invoke(*args: str) -> object:
    return runner.invoke(root, ["privacy", "kanon", *args])


def test_end_to_end_with_l_diversity_and_arx_hierarchy(tmp_path: Path) -> None:
    src, out, rep = people(tmp_path / "in.csv"), tmp_path / "out.csv", tmp_path / "report.json"
    hier = zip_hierarchy(tmp_path / "h")
    result = invoke(
        str(src), "--k", "5", "--qi", "age,sex,zip", "--sensitive", "disease", "--l", "2",
        "--hierarchies", str(hier), "--max-suppression", "0.1", "--out", str(out),
        "--report", str(rep),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(rep.read_text("utf-8"))
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(df.columns) == HEADER
    assert len(df) == report["rows_out"] == 120 - report["suppressed"]
    assert report["suppressed"] <= 12
    assert anonymity.k_anonymity(df, ["age", "sex", "zip"]) >= 5
    assert anonymity.l_diversity(df, ["age", "sex", "zip"], ["disease"]) >= 2
    level = report["levels"]["zip"]
    allowed = {line.split(";")[level] for line in (hier / "zip.csv").read_text().splitlines()}
    assert set(df["zip"]) <= allowed
    assert report["heights"]["zip"] == 3 and report["k"] == 5 and report["l_diversity"] == 2
    assert "抑制" in result.output and "等价类" in result.output and "信息损失" in result.output
    original = pd.read_csv(src, dtype=str)
    assert set(df["id"]) <= set(original["id"])
    kept = original.set_index("id").loc[df["id"]]
    assert list(kept["disease"]) == list(df["disease"])


def test_english_summary_and_no_suppression(tmp_path: Path) -> None:
    src, out = people(tmp_path / "in.csv"), tmp_path / "out.csv"
    result = invoke(
        str(src), "--k", "3", "--qi", "age,sex", "--max-suppression", "0", "--out", str(out),
        "--lang", "en",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "suppressed" in result.output and "equivalence classes" in result.output
    df = pd.read_csv(out, dtype=str)
    assert len(df) == 120
    assert anonymity.k_anonymity(df, ["age", "sex"]) >= 3


def test_help_is_bilingual() -> None:
    result = runner.invoke(root, ["privacy", "kanon", "--help"])
    assert result.exit_code == 0
    assert "k-anonymise" in result.output and "k-匿名" in result.output
    assert "--suppression-weight" in result.output
    assert "suppression weight" in result.output and "抑制权重" in result.output


def test_suppression_weight_keeps_more_rows(tmp_path: Path) -> None:
    src = people(tmp_path / "in.csv", n=300, seed=5)
    reports = {}
    for weight in ("1", "7/3", "5"):
        out, rep = tmp_path / f"out-{weight[0]}.csv", tmp_path / f"report-{weight[0]}.json"
        result = invoke(
            str(src), "--k", "5", "--qi", "age,sex,zip", "--max-suppression", "0.1",
            "--suppression-weight", weight, "--out", str(out), "--report", str(rep),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        reports[weight] = report = json.loads(rep.read_text("utf-8"))
        df = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert len(df) == report["rows_out"] == 300 - report["suppressed"]
        assert anonymity.k_anonymity(df, ["age", "sex", "zip"]) >= 5
        assert ("抑制权重" in result.output) == (weight != "1")
    one, third, five = reports["1"], reports["7/3"], reports["5"]
    assert one["suppression_weight"] == 1.0 and one["objective"] == one["loss"]
    assert third["suppression_weight"] == pytest.approx(7 / 3)
    assert five["suppression_weight"] == 5.0
    assert five["objective"] >= five["loss"]
    assert one["suppressed"] >= third["suppressed"] >= five["suppressed"]
    assert five["suppressed"] < one["suppressed"]  # this table: fewer rows left out
    assert five["loss"] >= one["loss"]


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (["--k", "1", "--qi", "age"], "k", "at least 2"),
        (["--k", "3", "--qi", "age,height"], "qi", "height"),
        (["--k", "3", "--qi", "age", "--sensitive", "blood"], "sensitive", "blood"),
        (["--k", "3", "--qi", "age", "--l", "2"], "l", "together"),
        (["--k", "3", "--qi", "age", "--max-suppression", "1.5"], "max_suppression", "[0, 1)"),
        (["--k", "500", "--qi", "age"], "k", "500-anonymity"),
        (["--k", "3", "--qi", "age", "--suppression-weight", "0.5"], "suppression_weight", "0.5"),
        (["--k", "3", "--qi", "age", "--suppression-weight", "abc"], "suppression_weight", "abc"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: list[str], field: str, words: str) -> None:
    src = people(tmp_path / "in.csv")
    result = invoke(str(src), *args, "--out", str(tmp_path / "out.csv"))
    assert isinstance(result.exception, InvalidInput), result.output
    assert result.exception.field == field and words in result.exception.detail
    assert not (tmp_path / "out.csv").exists()


def test_bad_files(tmp_path: Path) -> None:
    out = str(tmp_path / "out.csv")
    cases = {
        "missing.csv": None,
        "empty.csv": "",
        "blank-header.csv": "id,,zip\n1,2,3\n",
        "short-row.csv": "id,age\n1,30\n2\n",
    }
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text, encoding="utf-8")
        result = invoke(str(tmp_path / name), "--k", "2", "--qi", "age", "--out", out)
        assert isinstance(result.exception, InvalidInput), name
        assert result.exception.field == "input", name
    result = invoke(str(tmp_path / "short-row.csv"), "--k", "2", "--qi", "age", "--out", out)
    assert "line 3" in result.exception.detail  # type: ignore[union-attr]


def test_malformed_hierarchy_names_the_line(tmp_path: Path) -> None:
    src = people(tmp_path / "in.csv")
    hier = tmp_path / "h"
    hier.mkdir()
    (hier / "sex.csv").write_text("M;*\nF;person;*\n", encoding="utf-8")
    result = invoke(
        str(src), "--k", "2", "--qi", "age,sex", "--hierarchies", str(hier), "--out", "o.csv"
    )
    assert isinstance(result.exception, InvalidInput)
    assert result.exception.field == "hierarchies"
    assert "sex.csv line 2" in result.exception.detail


def test_value_missing_from_hierarchy(tmp_path: Path) -> None:
    src = people(tmp_path / "in.csv")
    hier = tmp_path / "h"
    hier.mkdir()
    (hier / "sex.csv").write_text("M;*\n", encoding="utf-8")
    result = invoke(
        str(src), "--k", "2", "--qi", "sex", "--hierarchies", str(hier), "--out", "o.csv"
    )
    assert isinstance(result.exception, InvalidInput)
    assert "'sex'" in result.exception.detail and "'F'" in result.exception.detail


SCRIPT = (
    "import sys, typer\n"
    "from citybrain.governance.privacy.cli import app\n"
    "from citybrain.kernel.errors import CityBrainError\n"
    "root = typer.Typer()\n"
    "root.add_typer(app, name='privacy')\n"
    "root.callback()(lambda: None)\n"
    "try:\n"
    "    root(standalone_mode=False)\n"
    "except CityBrainError as exc:\n"
    "    print(exc.one_line(), file=sys.stderr)\n"
    "    sys.exit(exc.exit_code)\n"
)  # as `citybrain.cli.main` does: a CityBrainError becomes one line and its exit code


def test_real_process_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """As `citybrain.cli.main` does: a CityBrainError becomes one line and its exit code."""
    script = SCRIPT
    src = people(tmp_path / "in.csv", n=20)
    args = ["privacy", "kanon", str(src), "--k", "2", "--qi", "weight", "--out", "o.csv"]
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: Invalid input [qi]: unknown quasi-identifier")
    ok = subprocess.run(
        [sys.executable, "-c", script, *args[:6], "age", "--out", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert ok.returncode == 0, ok.stderr
    assert len(pd.read_csv(tmp_path / "o.csv")) >= 19


@pytest.mark.parametrize("weight", ["0.5", "abc"])
def test_bad_suppression_weight_is_one_line_and_exit_2(tmp_path: Path, weight: str) -> None:
    src = people(tmp_path / "in.csv", n=20)
    args = ["privacy", "kanon", str(src), "--k", "2", "--qi", "age", "--out", "o.csv"]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args, "--suppression-weight", weight],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: Invalid input [suppression_weight]: suppression weight")
    assert weight in lines[0] and "from 1 to 1000" in lines[0]
    assert not (tmp_path / "o.csv").exists()
