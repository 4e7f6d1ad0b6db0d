"""An outsider's export catches what verify alone cannot: a log rolled back to an old state."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from citybrain.kernel.config import load_settings
from citybrain.kernel.runtime import Runtime
from citybrain.ledger.witness import compare_exports, verify_against
from tests.helpers import make_org


def _export(rt: Runtime) -> dict:
    with rt.factory() as s, s.begin():
        rt.ledger.checkpoint(s, force=True)
    with rt.reader() as s:
        return rt.ledger.export_checkpoints(s)


def test_rollback_to_an_old_copy_is_caught_by_an_export(tmp_path: Path) -> None:
    data = tmp_path / "d"
    rt = Runtime.open(load_settings(environ={}, data_dir=data))
    rt.migrate()
    rt.bootstrap()
    first = _export(rt)
    rt.close()
    shutil.copy(data / "citybrain.db", tmp_path / "old.db")  # an old copy kept by an insider

    rt = Runtime.open(load_settings(environ={}, data_dir=data))
    for i in range(5):
        make_org(rt, 500 + i)
    second = _export(rt)  # held by an independent party
    with rt.reader() as s:
        assert verify_against(rt.ledger, s, second).ok
        assert verify_against(rt.ledger, s, first).ok
    assert compare_exports(first, second).ok
    rt.close()

    shutil.copy(tmp_path / "old.db", data / "citybrain.db")  # roll the ledger back
    for suffix in ("-wal", "-shm"):
        (data / f"citybrain.db{suffix}").unlink(missing_ok=True)
    rt = Runtime.open(load_settings(environ={}, data_dir=data))
    with rt.reader() as s:
        assert rt.ledger.verify(s).ok  # on its own, the rolled-back log looks intact
        size = rt.ledger.size(s)
        report = verify_against(rt.ledger, s, second)
    assert not report.ok
    assert report.first_bad_seq == size
    assert "removed" in report.reason
    third = _export(rt)
    bad = compare_exports(second, third)
    assert not bad.ok and "cut back" in bad.reason
    rt.close()

    (tmp_path / "second.json").write_text(json.dumps(second), encoding="utf-8")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "citybrain.cli",
            "ledger",
            "verify",
            "--data-dir",
            str(data),
            "--against",
            str(tmp_path / "second.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert str(size) in r.stderr


def test_a_swapped_signing_key_is_caught(tmp_path: Path) -> None:
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path / "a"))
    rt.migrate()
    rt.bootstrap()
    doc = _export(rt)
    other = Runtime.open(load_settings(environ={}, data_dir=tmp_path / "b"))
    other.migrate()
    other.bootstrap()
    forged = _export(other)
    assert not compare_exports(doc, forged).ok
    with other.reader() as s:
        assert not verify_against(other.ledger, s, doc).ok
    rt.close()
    other.close()


def test_lost_signing_key_is_refused_not_replaced(tmp_path: Path) -> None:
    import pytest

    from citybrain.kernel.errors import ConfigError

    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path))
    rt.migrate()
    rt.bootstrap()
    _export(rt)
    rt.close()
    (tmp_path / "ledger-ed25519.key").unlink()
    with pytest.raises(ConfigError) as err:
        Runtime.open(load_settings(environ={}, data_dir=tmp_path))
    assert err.value.field == "ledger_key_file"
    assert not (tmp_path / "ledger-ed25519.key").exists()


def test_a_different_signing_key_is_refused(tmp_path: Path) -> None:
    import shutil as sh

    import pytest

    from citybrain.kernel.errors import ConfigError

    for name in ("a", "b"):
        rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path / name))
        rt.migrate()
        rt.bootstrap()
        _export(rt)
        rt.close()
    sh.copy(tmp_path / "b" / "ledger-ed25519.key", tmp_path / "a" / "ledger-ed25519.key")
    with pytest.raises(ConfigError) as err:
        Runtime.open(load_settings(environ={}, data_dir=tmp_path / "a"))
    assert err.value.field == "ledger_key_file"
