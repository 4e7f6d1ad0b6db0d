"""Merkle tree arithmetic of RFC 9162 (Certificate Transparency 2.0), §2.1. Pure, no database.

Vocabulary:

* A *perfect node* ``(level, index)`` is the hash of the ``2**level`` leaves starting at
  ``index * 2**level``. The database stores exactly these, keyed by :func:`node_key`.
* The *frontier* of a tree of size ``n`` lists the perfect nodes of the binary decomposition of
  ``n``, highest level first. Appending a leaf only touches the frontier (amortised O(1)).
* Every range whose hash a proof needs (see :func:`inclusion_path_ranges`,
  :func:`consistency_path_ranges`) starts at a boundary aligned to its highest bit, so its MTH is a
  right fold of at most log2(n) perfect nodes (:func:`range_nodes`, :func:`fold`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"
_sha256 = hashlib.sha256

Range = tuple[int, int]
Node = tuple[int, int]  # (level, index)


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf."""
    return _sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(_NODE + left + right).digest()


def node_key(level: int, index: int) -> int:
    """Integer key of the perfect node ``(level, index)``: ``(index << 6) | level``."""
    return (index << 6) | level


def key_node(key: int) -> Node:
    """Inverse of :func:`node_key`: ``(level, index)``."""
    return key & 63, key >> 6


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- frontier ------------------------------------------------------------------------------------


def frontier_levels(size: int) -> list[int]:
    """Levels of the frontier nodes of a tree of ``size`` leaves, highest first."""
    return [lvl for lvl in range(size.bit_length() - 1, -1, -1) if size >> lvl & 1]


def frontier_nodes(size: int) -> list[Node]:
    """The ``(level, index)`` of each frontier node of a tree of ``size`` leaves, highest first."""
    out: list[Node] = []
    pos = 0
    for lvl in frontier_levels(size):
        out.append((lvl, pos >> lvl))
        pos += 1 << lvl
    return out


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """MTH of the tree whose frontier (highest level first) is ``frontier``."""
    if not frontier:
        return EMPTY_ROOT
    return fold(frontier)


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold ``H(h0, H(h1, ... H(h[-2], h[-1])))``: MTH of consecutive perfect subtrees."""
    h = hashes[-1]
    for x in reversed(hashes[:-1]):
        h = _sha256(_NODE + x + h).digest()
    return h


def push_leaf(frontier: list[bytes], size: int, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """Append ``leaf`` to ``frontier`` *in place*; return the perfect nodes it completes.

    ``size`` is the tree size before the append. The result starts with the leaf itself
    ``(0, size, leaf)`` and continues upwards; it has ``1 + trailing_ones(size)`` items.
    """
    done = [(0, size, leaf)]
    h = leaf
    level = 0
    s = size
    new_size = size + 1
    while s & 1:
        h = _sha256(_NODE + frontier.pop() + h).digest()
        level += 1
        s >>= 1
        done.append((level, (new_size >> level) - 1, h))
    frontier.append(h)
    return done


def frontier_append(
    size: int, frontier: Sequence[bytes], leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append ``leaf`` to a tree of ``size`` leaves: (new frontier, completed perfect nodes)."""
    if len(frontier) != size.bit_count():
        raise ValueError(
            f"frontier has {len(frontier)} hashes, size {size} needs {size.bit_count()}"
        )
    new = list(frontier)
    return new, push_leaf(new, size, leaf)


def pack_frontier(frontier: Sequence[bytes]) -> bytes:
    """Concatenate frontier hashes for storage."""
    return b"".join(frontier)


def unpack_frontier(blob: bytes, size: int) -> list[bytes]:
    """Split a stored frontier; ValueError when it does not fit ``size``."""
    if len(blob) != HASH_SIZE * size.bit_count():
        raise ValueError(
            f"stored frontier has {len(blob)} bytes, size {size} needs "
            f"{HASH_SIZE * size.bit_count()}"
        )
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


# --- proof shapes --------------------------------------------------------------------------------


def inclusion_path_ranges(index: int, size: int) -> list[Range]:
    """The ``[start, end)`` ranges whose MTH form PATH(index, D[size]) (RFC 9162 §2.1.3.1).

    In proof order: the sibling nearest the leaf first.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} not in [0, {size})")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = lo + _split(hi - lo)
        if index < k:
            out.append((k, hi))
            hi = k
        else:
            out.append((lo, k))
            lo = k
    out.reverse()
    return out


def consistency_path_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose MTH form PROOF(first, D[second]) (RFC 9162 §2.1.4.1), in proof order.

    Empty when ``first == second`` or ``first == 0``.
    """
    if not 0 <= first <= second:
        raise ValueError(f"need 0 <= first <= second, got {first}, {second}")
    if first in (0, second):
        return []
    out: list[Range] = []
    lo, hi, whole = 0, second, True
    while first != hi:
        k = lo + _split(hi - lo)
        if first <= k:
            out.append((k, hi))
            hi = k
        else:
            out.append((lo, k))
            lo = k
            whole = False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


def range_nodes(start: int, end: int) -> list[Node]:
    """Perfect nodes whose right fold is MTH(D[start:end]), highest level first.

    ``start`` must be aligned to the highest power of two in ``end - start``; every range of an
    RFC 9162 proof is.
    """
    n = end - start
    if n <= 0:
        raise ValueError(f"empty range [{start}, {end})")
    out: list[Node] = []
    pos = start
    for lvl in range(n.bit_length() - 1, -1, -1):
        if n >> lvl & 1:
            if pos & ((1 << lvl) - 1):
                raise ValueError(f"range [{start}, {end}) is not aligned")
            out.append((lvl, pos >> lvl))
            pos += 1 << lvl
    return out


def range_keys(start: int, end: int) -> list[int]:
    """:func:`node_key` of each node of :func:`range_nodes`."""
    n = end - start
    if n > 0 and not n & (n - 1) and not start & (n - 1):  # one perfect subtree: the common case
        level = n.bit_length() - 1
        return [((start >> level) << 6) | level]
    return [(i << 6) | lvl for lvl, i in range_nodes(start, end)]


def range_hash(start: int, end: int, lookup: Callable[[int], bytes]) -> bytes:
    """MTH(D[start:end]) from stored perfect nodes; ``lookup`` maps a node key to its hash."""
    if start == end:
        return EMPTY_ROOT
    return fold([lookup(k) for k in range_keys(start, end)])


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------------


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """True when ``path`` proves that ``leaf`` (a leaf hash) is at ``leaf_index`` under ``root``."""
    if not 0 <= leaf_index < tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _sha256(_NODE + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(_NODE + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows the tree (size1, root1) is a prefix of (size2, root2)."""
    if not 0 <= size1 <= size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof and root1 == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE + c + fr).digest()
            sr = _sha256(_NODE + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(_NODE + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


# --- reference implementation (the test oracle) --------------------------------------------------


class MerkleTree:
    """In-memory reference tree: the RFC 9162 definitions written out recursively."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self.leaves: list[bytes] = []
        self._memo: dict[Range, bytes] = {}
        for data in leaves:
            self.append(data)

    def __len__(self) -> int:
        return len(self.leaves)

    def append(self, data: bytes) -> int:
        """Add a leaf (its entry bytes); return its index."""
        self.leaves.append(data)
        return len(self.leaves) - 1

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) by the recursive definition of §2.1.1 (memoised)."""
        got = self._memo.get((lo, hi))
        if got is not None:
            return got
        n = hi - lo
        if n == 0:
            h = EMPTY_ROOT
        elif n == 1:
            h = leaf_hash(self.leaves[lo])
        else:
            k = _split(n)
            h = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
        self._memo[(lo, hi)] = h
        return h

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all by default)."""
        return self.mth(0, len(self.leaves) if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) of §2.1.3.1."""
        size = len(self.leaves) if size is None else size
        if not 0 <= index < size <= len(self.leaves):
            raise ValueError(f"leaf index {index} not in [0, {size})")
        return self._path(index, 0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*self._path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """PROOF(first, D[second]) of §2.1.4.1 (empty when first is 0 or equals second)."""
        second = len(self.leaves) if second is None else second
        if not 0 <= first <= second <= len(self.leaves):
            raise ValueError(f"need 0 <= {first} <= {second} <= {len(self.leaves)}")
        if first == 0:
            return []
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self.mth(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, whole), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]
