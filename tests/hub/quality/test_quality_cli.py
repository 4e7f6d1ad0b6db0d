"""`citybrain quality run/report` against a real database, ledgered as the local operator."""

from __future__ import annotations

import json
from datetime import timedelta

from typer.testing import CliRunner

from citybrain.hub.quality.cli import app
from tests.hub.quality.conftest import City

runner = CliRunner(env={"COLUMNS": "220"})
HOUR = timedelta(hours=1)


def ledger_size(city: City) -> int:
    with city.runtime.factory() as s:
        return city.runtime.ledger.size(s)


def test_run_and_report(city: City, settings_kwargs: dict[str, object]) -> None:
    opts = ["--data-dir", str(settings_kwargs["data_dir"]), "--db", str(settings_kwargs["db"])]
    org, other = city.org(300), city.org(301)
    city.dataset("air", org)
    city.dataset("bus", other)
    city.punctual("air", org)
    city.batch("bus", other, 3 * HOUR, verified=None)

    r = runner.invoke(app, ["report", *opts])
    assert r.exit_code == 0, r.output
    assert "还没有质量评分" in r.output

    before = ledger_size(city)
    r = runner.invoke(app, ["run", "--window-hours", "1", *opts])
    assert r.exit_code == 0, r.output
    assert "2 个数据集" in r.output and "新告警 1 条" in r.output
    assert ledger_size(city) == before + 1

    r = runner.invoke(app, ["report", "--json", *opts])
    assert r.exit_code == 0, r.output
    rows = {row["dataset"]: row for row in json.loads(r.output)}
    assert rows["air"]["scores"] == {
        "timeliness": 100,
        "completeness": 100,
        "accuracy": 100,
        "authenticity": 100,
    }
    assert rows["bus"]["scores"]["timeliness"] == 30
    assert rows["bus"]["evidence"]["timeliness"][0]["rule"] == "lag"
    assert ledger_size(city) == before + 2  # the run, then this report

    r = runner.invoke(app, ["report", "--org", other, "--lang", "en", *opts])
    assert r.exit_code == 0, r.output
    assert "Timeliness" in r.output and "bus" in r.output and "air" not in r.output
    assert "Newest data is" in r.output

    r = runner.invoke(app, ["report", "--dataset", "air", "--lang", "zh-CN", *opts])
    assert r.exit_code == 0, r.output
    assert "及时性" in r.output and "air" in r.output and "bus" not in r.output

    r = runner.invoke(app, ["report", "--lang", "fr", *opts])
    assert r.exit_code == 2
