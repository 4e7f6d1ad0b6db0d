"""`citybrain catalog list/show/search` against a real database, ledgered as the operator."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from citybrain.hub.catalogue.cli import app
from tests.hub.conftest import World

runner = CliRunner()


def test_cli_list_show_search(world: World, settings_kwargs: dict[str, object]) -> None:
    world.register(id="signal-timing")
    opts = ["--data-dir", str(settings_kwargs["data_dir"]), "--db", str(settings_kwargs["db"])]
    with world.runtime.factory() as s:
        before = world.runtime.ledger.size(s)
    r = runner.invoke(app, ["list", "--json", *opts])
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in json.loads(r.output)["items"]] == ["signal-timing"]
    r = runner.invoke(app, ["show", "signal-timing", *opts])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["title"]["zh"] == "交通信号灯配时"
    r = runner.invoke(app, ["search", "信号灯", *opts])
    assert r.exit_code == 0 and "signal-timing" in r.output
    r = runner.invoke(app, ["search", "地铁", *opts])
    assert r.exit_code == 0 and "没有找到" in r.output
    with world.runtime.factory() as s:
        assert world.runtime.ledger.size(s) >= before + 4
