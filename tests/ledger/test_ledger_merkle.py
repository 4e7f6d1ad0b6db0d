"""Merkle arithmetic (RFC 9162), canonical entry bytes and checkpoint signing: no database."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from citybrain.ledger.entry import ACTIONS, DECISIONS, EntryData, canonical_bytes, iso_utc
from citybrain.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_path_ranges,
    frontier_append,
    frontier_nodes,
    inclusion_path_ranges,
    leaf_hash,
    node_hash,
    node_key,
    range_hash,
    range_nodes,
    root_from_frontier,
    unpack_frontier,
    verify_consistency,
    verify_inclusion,
)
from citybrain.ledger.proofs import verify_export
from citybrain.ledger.signing import CheckpointSigner, checkpoint_note

# RFC 6962 / certificate-transparency reference tree: leaves, roots for sizes 0..8, proofs.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {
    (2, 8): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
N = 70


def _store_for(leaves: list[bytes]) -> tuple[dict[int, bytes], list[list[bytes]]]:
    """Perfect nodes and the frontier after each append, built with the append step."""
    store: dict[int, bytes] = {}
    frontier: list[bytes] = []
    frontiers: list[list[bytes]] = [[]]
    for size, data in enumerate(leaves):
        frontier, done = frontier_append(size, frontier, leaf_hash(data))
        assert len(done) == 1 + ((size ^ (size + 1)).bit_length() - 1)
        for level, index, h in done:
            store[node_key(level, index)] = h
        frontiers.append(frontier)
    return store, frontiers


@pytest.fixture(scope="module")
def big() -> tuple[MerkleTree, dict[int, bytes], list[list[bytes]]]:
    tree = MerkleTree(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(N))
    store, frontiers = _store_for(tree.leaves)
    return tree, store, frontiers


def test_reference_roots_and_proofs() -> None:
    tree = MerkleTree(CT_LEAVES)
    store, frontiers = _store_for(CT_LEAVES)
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    for size in range(9):
        assert tree.root(size).hex() == CT_ROOTS[size]
        assert root_from_frontier(frontiers[size]).hex() == CT_ROOTS[size]
    for (m, n), want in CT_INCLUSION.items():
        got = [range_hash(a, b, store.__getitem__) for a, b in inclusion_path_ranges(m, n)]
        assert [h.hex() for h in got] == want == [h.hex() for h in tree.inclusion_proof(m, n)]
        assert verify_inclusion(m, n, leaf_hash(CT_LEAVES[m]), got, bytes.fromhex(CT_ROOTS[n]))
    for (m, n), want in CT_CONSISTENCY.items():
        got = [range_hash(a, b, store.__getitem__) for a, b in consistency_path_ranges(m, n)]
        assert [h.hex() for h in got] == want == [h.hex() for h in tree.consistency_proof(m, n)]
        roots = bytes.fromhex(CT_ROOTS[m]), bytes.fromhex(CT_ROOTS[n])
        assert verify_consistency(m, n, *roots, got)


def test_stored_nodes_are_exactly_the_perfect_subtrees(big) -> None:
    tree, store, frontiers = big
    expected = {
        node_key(level, i): tree.mth(i << level, (i + 1) << level)
        for level in range(8)
        for i in range(N >> level)
    }
    assert store == expected
    for size in range(N + 1):
        assert [store[node_key(lv, i)] for lv, i in frontier_nodes(size)] == frontiers[size]
        assert root_from_frontier(frontiers[size]) == tree.root(size)


def test_every_inclusion_proof_matches_the_oracle(big) -> None:
    tree, store, _ = big
    for n in range(1, N + 1):
        root = tree.root(n)
        for m in range(n):
            path = [range_hash(a, b, store.__getitem__) for a, b in inclusion_path_ranges(m, n)]
            assert path == tree.inclusion_proof(m, n)
            leaf = leaf_hash(tree.leaves[m])
            assert verify_inclusion(m, n, leaf, path, root)
            assert not verify_inclusion(m, n, leaf, path, tree.root(n - 1) if n > 1 else leaf[::-1])
            if m + 1 < n:
                assert not verify_inclusion(m + 1, n, leaf, path, root)
            if path:
                bad = [*path]
                bad[-1] = bytes([bad[-1][0] ^ 1]) + bad[-1][1:]
                assert not verify_inclusion(m, n, leaf, bad, root)
                assert not verify_inclusion(m, n, leaf, path[:-1], root)
            assert not verify_inclusion(m, n, leaf, [*path, b"\xab" * 32], root)


def test_every_consistency_proof_matches_the_oracle(big) -> None:
    tree, store, _ = big
    for n in range(0, N + 1):
        for m in range(0, n + 1):
            path = [range_hash(a, b, store.__getitem__) for a, b in consistency_path_ranges(m, n)]
            assert path == tree.consistency_proof(m, n)
            r1, r2 = tree.root(m), tree.root(n)
            assert verify_consistency(m, n, r1, r2, path)
            if 0 < m < n:
                assert path
                bad = [*path]
                bad[0] = bytes([bad[0][0] ^ 0x80]) + bad[0][1:]
                assert not verify_consistency(m, n, r1, r2, bad)
                assert not verify_consistency(m, n, r1, r2, path[:-1])
                assert not verify_consistency(m, n, r1, r2, [*path, b"\xcd" * 32])
                assert not verify_consistency(m, n, r2, r1, path)
                assert not verify_consistency(n, m, r2, r1, path)


def test_degenerate_consistency_cases(big) -> None:
    tree = big[0]
    r4, r5 = tree.root(4), tree.root(5)
    assert verify_consistency(4, 4, r4, r4, [])
    assert not verify_consistency(4, 4, r4, r5, [])
    assert not verify_consistency(4, 4, r4, r4, [b"\x00" * 32])
    assert verify_consistency(0, 8, EMPTY_ROOT, tree.root(8), [])
    assert not verify_consistency(0, 8, tree.root(1), tree.root(8), [])
    assert not verify_consistency(0, 8, EMPTY_ROOT, tree.root(8), [b"\x00" * 32])
    assert not verify_consistency(3, 5, tree.root(3), r5, [])


def test_shapes_reject_bad_arguments() -> None:
    with pytest.raises(ValueError):
        inclusion_path_ranges(5, 5)
    with pytest.raises(ValueError):
        consistency_path_ranges(6, 5)
    with pytest.raises(ValueError):
        range_nodes(3, 7)  # 4 leaves starting at 3 is not an aligned subtree
    with pytest.raises(ValueError):
        range_nodes(4, 4)
    assert range_nodes(8, 15) == [(2, 2), (1, 6), (0, 14)]
    with pytest.raises(ValueError):
        frontier_append(3, [b"\x00" * 32], b"\x01" * 32)
    with pytest.raises(ValueError):
        unpack_frontier(b"\x00" * 32, 3)
    assert not verify_inclusion(0, 0, b"", [], EMPTY_ROOT)
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


# --- entries -------------------------------------------------------------------------------------


def _entry(**kw: object) -> EntryData:
    base: dict[str, object] = {
        "actor": "user:张三",
        "organisation": "org:hz-traffic",
        "action": "access",
        "resource": "dataset:parking/occupancy",
        "purpose": "交通调度",
        "decision": "allow",
        "policy_ids": ("p2", "p1"),
        "request_id": "req-1",
    }
    base.update(kw)
    return EntryData(**base)  # type: ignore[arg-type]


def test_canonical_bytes_are_exact() -> None:
    ts = datetime(2025, 1, 31, 8, 0, 0, 5, tzinfo=UTC)
    got = canonical_bytes(7, ts, _entry())
    want = (
        '{"action":"access","actor":"user:张三","decision":"allow",'
        '"organisation":"org:hz-traffic","policy_ids":["p2","p1"],"purpose":"交通调度",'
        '"request_id":"req-1","resource":"dataset:parking/occupancy","seq":7,'
        '"ts":"2025-01-31T08:00:00.000005Z"}'
    ).encode()
    assert got == want
    assert json.loads(got)["actor"] == "user:张三"
    # A naive time (as SQLite returns it) is UTC; another zone is converted.
    assert canonical_bytes(7, ts.replace(tzinfo=None), _entry()) == want
    east8 = timezone(timedelta(hours=8))
    assert canonical_bytes(7, ts.astimezone(east8), _entry()) == want
    assert iso_utc(datetime(2025, 1, 1, tzinfo=east8)) == "2024-12-31T16:00:00.000000Z"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action", "steal"),
        ("decision", "maybe"),
        ("actor", "x" * 201),
        ("resource", "a\x00b"),
        ("purpose", 5),
        ("policy_ids", "p1"),
        ("policy_ids", ("ok", 3)),
        ("request_id", "\ud800"),
    ],
)
def test_entry_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        _entry(**{field: value})


def test_entry_keeps_plain_strings() -> None:
    class Action(StrEnum):
        USE = "use"

    class Name(str):
        pass

    e = _entry(action=Action.USE, actor=Name("user:1"))
    assert type(e.action) is str and type(e.actor) is str
    assert e == _entry(action="use", actor="user:1")
    assert b'"action":"use"' in canonical_bytes(0, datetime(2025, 1, 1), e)
    with pytest.raises(ValueError, match="policy_ids"):
        _entry(policy_ids=("x" * 60_000, "y" * 60_000))


def test_entry_vocabulary() -> None:
    assert ACTIONS == ("collect", "transmit", "share", "access", "use", "export", "delete", "admin")
    assert DECISIONS == ("allow", "deny")
    assert _entry(policy_ids=["a", "b"]).policy_ids == ("a", "b")
    with pytest.raises(AttributeError):
        _entry().actor = "mallory"  # type: ignore[misc]


# --- signing -------------------------------------------------------------------------------------


def test_rfc8032_vector_verifies() -> None:
    pub = base64.b64encode(
        bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    ).decode()
    sig = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb882"
        "1590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert CheckpointSigner.verify(pub, b"", sig)
    assert not CheckpointSigner.verify(pub, b"\x00", sig)
    assert not CheckpointSigner.verify(pub, b"", sig[:63])
    assert not CheckpointSigner.verify("not base64!", b"", sig)


def test_key_file_created_private_and_reloaded(tmp_path) -> None:
    path = tmp_path / "keys" / "ledger.key"
    s1 = CheckpointSigner.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    s2 = CheckpointSigner.load_or_create(path)
    assert s1.key_id == s2.key_id
    assert s1.key_id == hashlib.sha256(s1.public_key_raw).digest()[:16].hex()
    assert len(s1.key_id) == 32
    assert base64.b64decode(s1.public_key_b64) == s1.public_key_raw
    msg = checkpoint_note("city/log", 3, b"\x01" * 32, datetime(2025, 1, 1, tzinfo=UTC))
    assert (
        msg
        == b"city/log\n3\n" + base64.b64encode(b"\x01" * 32) + b"\n2025-01-01T00:00:00.000000Z\n"
    )
    assert CheckpointSigner.verify(s1.public_key_b64, msg, s2.sign(msg))
    assert not list(tmp_path.joinpath("keys").glob("*.tmp"))


def test_raw_and_bad_key_files(tmp_path) -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    (tmp_path / "raw.key").write_bytes(raw)
    signer = CheckpointSigner.load_or_create(tmp_path / "raw.key")
    assert signer.public_key_raw == CheckpointSigner(key).public_key_raw
    (tmp_path / "bad.key").write_bytes(b"hello")
    with pytest.raises(ValueError, match="key file"):
        CheckpointSigner.load_or_create(tmp_path / "bad.key")
    with pytest.raises(ValueError, match="origin"):
        checkpoint_note("two\nlines", 1, EMPTY_ROOT, "t")


def test_verify_export_rejects_malformed_documents() -> None:
    assert not verify_export({}).ok
    assert "malformed" in verify_export({"origin": "o"}).reason
