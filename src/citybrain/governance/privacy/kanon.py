"""k-anonymity (with distinct l-diversity) by global recoding over generalisation hierarchies.

Input is column-oriented: ``{column: [value, ...]}`` with every value a string (a CSV as read),
all columns the same length, in the order the output keeps. A *node* of the lattice picks one
level per quasi-identifier (QI); applying it generalises every row the same way. Rows of
equivalence classes smaller than k, or with fewer than l distinct sensitive values, are
suppressed (left out); a node is *anonymous* when at most ``max_suppression`` of the rows are.

Search (ARX Flash-like, lazy): anonymity with suppression is monotone (a class that is fine
stays fine when merged into a coarser one, so suppressed(coarser) is a subset), so a checked
anonymous node tags all its successors anonymous and a failing one tags all predecessors not
anonymous (predictive tagging). The objective is ``((n - s) * prec + w * s) / n`` with ``prec``
the mean over QIs of level/height, ``s`` the suppressed rows and ``w`` the suppression weight
(``suppression_weight``, 1 to 1000): a suppressed row costs w fully generalised rows. With
w = 1 (the default) it is ``loss``, Prec over every cell with suppressed rows counted as fully
generalised (ARX's default). Our output leaves suppressed rows out entirely (every column of
them is lost, which biases open data against rare groups), so a larger w prefers generalising
to suppressing. ``prec`` is a lower bound of the objective (w >= 1), so nodes are visited in
ascending ``prec`` and the search stops once it passes the best objective found. An
unclassified node is resolved along an upward path of unclassified nodes that can still beat
the best: by binary search (Flash's path check) or, once a solution is known, by checking the
path's top first (most of that band is not anonymous, so one check usually classifies the
whole path). An anonymous node whose exact suppression is unknown is checked only if a lower
bound (the key at the suppression of a checked successor) could still beat the best. The
result is optimal for the objective among all anonymous nodes (ties: fewer levels, then
lexicographically lower levels); its arithmetic is exact (integers, w as a fraction).

A node check is a few numpy operations over the distinct QI(+sensitive) combinations of the
input: level-mapped integer codes combined into one int64 key, then a ``bincount`` (small key
space) or one sort of (key, count) pairs packed into int64.

Also reported (documented in ``KAnonReport``): discernibility (DM*) and normalised non-uniform
entropy of the chosen node.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from citybrain.governance.privacy.hierarchy import Hierarchy
from citybrain.kernel.errors import InvalidInput

MAX_LATTICE = 2_000_000
MAX_SUPPRESSION_WEIGHT = 1000
_BINCOUNT_LIMIT = 1 << 12
_KEY_LIMIT = 1 << 62
_UNKNOWN, _ANON, _NOT_ANON = 0, 1, 2


@dataclass(frozen=True)
class KAnonReport:
    """What was done and what it cost.

    ``prec``: mean over QIs of level/height (generalisation only). ``loss``: Prec over all cells
    with suppressed rows fully generalised, ``((n - s) * prec + s) / n`` (ARX's default loss,
    whatever the weight). ``objective``: what the search minimised,
    ``((n - s) * prec + w * s) / n`` with w the ``suppression_weight`` (``loss`` when w = 1).
    ``discernibility``: DM*, the sum of squared class sizes plus n for every suppressed row.
    ``non_uniform_entropy``: sum over QI cells of -log2(P(original | generalised)) over the
    input's frequencies (suppressed = ``*``), divided by its value when every QI is ``*``
    (0..1); ``non_uniform_entropy_bits`` unscaled.
    """

    k: int
    l_diversity: int | None
    sensitive: str | None
    max_suppression: float
    suppression_weight: float
    qi: list[str]
    levels: dict[str, int]
    heights: dict[str, int]
    rows_in: int
    rows_out: int
    suppressed: int
    classes: int
    min_class_size: int
    prec: float
    loss: float
    objective: float
    discernibility: int
    non_uniform_entropy: float
    non_uniform_entropy_bits: float
    lattice_size: int
    nodes_checked: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class KAnonResult:
    """The anonymised table (input columns, QIs generalised, suppressed rows left out)."""

    columns: dict[str, list[str]]
    report: KAnonReport


@dataclass
class _Qi:
    """One QI encoded: per-row codes of the original value and per-level code maps."""

    codes: np.ndarray  # int32, per row
    maps: list[np.ndarray]  # level -> original code -> generalised code
    labels: list[list[str]]  # level -> generalised code -> label
    height: int


def _validate(
    columns: Mapping[str, Sequence[str]],
    qi: Sequence[str],
    hierarchies: Mapping[str, Hierarchy],
    k: object,
    sensitive: str | None,
    l_diversity: object,
    max_suppression: object,
) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise InvalidInput(f"k must be an integer of at least 2, got {k!r}", field="k")
    if (sensitive is None) != (l_diversity is None):
        raise InvalidInput("give the sensitive column and l together", field="l")
    if l_diversity is not None and (
        isinstance(l_diversity, bool) or not isinstance(l_diversity, int) or l_diversity < 2
    ):
        raise InvalidInput(f"l must be an integer of at least 2, got {l_diversity!r}", field="l")
    if (
        isinstance(max_suppression, bool)
        or not isinstance(max_suppression, int | float)
        or not 0 <= max_suppression < 1
    ):
        raise InvalidInput(
            f"max suppression must be in [0, 1), got {max_suppression!r}", field="max_suppression"
        )
    if not qi:
        raise InvalidInput("name at least one quasi-identifier", field="qi")
    if len(set(qi)) != len(qi):
        raise InvalidInput("a quasi-identifier is named twice", field="qi")
    for name in qi:
        if name not in columns:
            raise InvalidInput(f"unknown quasi-identifier column {name!r}", field="qi")
        if name not in hierarchies:
            raise InvalidInput(f"no hierarchy for column {name!r}", field="hierarchies")
    if sensitive is not None:
        if sensitive not in columns:
            raise InvalidInput(f"unknown sensitive column {sensitive!r}", field="sensitive")
        if sensitive in qi:
            raise InvalidInput(
                f"column {sensitive!r} cannot be both sensitive and a quasi-identifier",
                field="sensitive",
            )
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise InvalidInput("columns differ in length", field="input")
    n = lengths.pop() if lengths else 0
    if n == 0:
        raise InvalidInput("the table has no rows", field="input")
    return n


def _weight(value: object) -> Fraction:
    """The suppression weight as an exact fraction in [1, 1000]: an int, a float (to the nearest
    fraction with a denominator of at most 1000), a Fraction or Decimal, or a decimal string."""
    bad = InvalidInput(
        f"suppression weight must be a number from 1 to {MAX_SUPPRESSION_WEIGHT}, got {value!r}",
        field="suppression_weight",
    )
    if isinstance(value, bool):
        raise bad
    try:
        if isinstance(value, str):
            weight = Fraction(value.strip())
        elif isinstance(value, int | Fraction | Decimal):
            weight = Fraction(value)
        elif isinstance(value, float):
            if not 1 <= value <= MAX_SUPPRESSION_WEIGHT:  # also refuses nan
                raise bad
            weight = Fraction(value).limit_denominator(1000)  # stays in [1, 1000]
        else:
            raise bad
    except (ValueError, ArithmeticError):
        raise bad from None
    if not 1 <= weight <= MAX_SUPPRESSION_WEIGHT:
        raise bad
    return weight


def _factorise(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    distinct = list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(distinct)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(values))
    return codes, distinct


def _encode(values: Sequence[str], hierarchy: Hierarchy) -> _Qi:
    codes, distinct = _factorise(values)
    rows = [hierarchy.row(v) for v in distinct]
    maps, labels = [], []
    for level in range(hierarchy.height + 1):
        level_codes, level_labels = _factorise([r[level] for r in rows])
        maps.append(level_codes)
        labels.append(level_labels)
    return _Qi(codes, maps, labels, hierarchy.height)


def _combine(parts: Sequence[np.ndarray], cards: Sequence[int]) -> tuple[np.ndarray, int]:
    """One int64 key per row from codes with ``cards`` values each, and the key space size."""
    key = parts[0].astype(np.int64)
    space = int(cards[0])
    for part, card in zip(parts[1:], cards[1:], strict=True):
        if space * card >= _KEY_LIMIT:
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64).reshape(-1)
            space = int(key.max()) + 1
        key *= card
        key += part
        space *= int(card)
    return key, space


def _bincount_limit(base_rows: int) -> int:
    """Largest key space counted with ``bincount`` rather than a sort."""
    return max(_BINCOUNT_LIMIT, 4 * base_rows)


def _starts(sorted_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where runs of equal values begin in a sorted array: (flags, indices)."""
    flag = np.empty(len(sorted_key), dtype=bool)
    flag[:1] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=flag[1:])
    return flag, np.flatnonzero(flag)


class _Checker:
    """Checks nodes over the distinct QI(+sensitive) combinations of the input (base rows)."""

    def __init__(self, qis: list[_Qi], sens: np.ndarray | None, k: int, l_div: int) -> None:
        self.k, self.l_div, self.qis = k, l_div, qis
        parts = [q.codes for q in qis] + ([sens] if sens is not None else [])
        cards = [len(q.labels[0]) for q in qis] + (
            [int(sens.max()) + 1] if sens is not None else []
        )
        key, _ = _combine(parts, cards)
        _, first, inverse, counts = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        self.row_base = inverse.reshape(-1)  # input row -> base row
        self.counts = counts.astype(np.int64)
        self.weights = counts.astype(np.float64)
        self.count_bits = max(int(counts.max()).bit_length(), 1)
        self.base = [[m[q.codes[first]].astype(np.int64) for m in q.maps] for q in qis]
        self.cards = [[len(lab) for lab in q.labels] for q in qis]
        self.sens = sens[first].astype(np.int64) if sens is not None else None
        self.n_sens = cards[-1] if sens is not None else 1
        self.bincount_limit = _bincount_limit(len(counts))
        self.checked = 0

    def _key(self, node: Sequence[int]) -> tuple[np.ndarray, int]:
        """Per base row its (class, sensitive value) key, and the size of the key space."""
        parts = [self.base[i][lv] for i, lv in enumerate(node)]
        key, space = _combine(parts, [self.cards[i][lv] for i, lv in enumerate(node)])
        if self.sens is not None:
            key *= self.n_sens
            key += self.sens
            space *= self.n_sens
        return key, space

    def classes(self, node: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per base row its class id; per class its size and whether it is kept."""
        key, _ = self._key(node)
        _, cls = np.unique(key // self.n_sens, return_inverse=True)
        cls = cls.reshape(-1)
        space = int(cls.max()) + 1
        sizes = np.bincount(cls, weights=self.weights, minlength=space).astype(np.int64)
        ok = sizes >= self.k
        if self.sens is not None:
            pairs = np.unique(cls * self.n_sens + self.sens)
            ok &= np.bincount(pairs // self.n_sens, minlength=space) >= self.l_div
        return cls, sizes, ok

    def suppressed(self, node: Sequence[int]) -> int:
        """Rows suppressed at ``node``: a bincount over a small key space, else one sort."""
        self.checked += 1
        key, space = self._key(node)
        if space <= self.bincount_limit:
            sizes = np.bincount(key, weights=self.weights, minlength=space)
            if self.sens is None:
                return int(sizes[sizes < self.k].sum())
            by_class = sizes.reshape(-1, self.n_sens)
            sizes = by_class.sum(axis=1)
            bad = (sizes < self.k) | (np.count_nonzero(by_class, axis=1) < self.l_div)
            return int(sizes[bad].sum())
        if space << self.count_bits >= _KEY_LIMIT:
            _, sizes, ok = self.classes(node)
            return int(sizes[~ok].sum())
        key <<= self.count_bits  # sort (key, count) pairs packed in one int64
        key |= self.counts
        key.sort()
        counts = key & ((1 << self.count_bits) - 1)
        key >>= self.count_bits
        if self.sens is None:
            _, starts = _starts(key)
            sizes = np.add.reduceat(counts, starts)
            return int(sizes[sizes < self.k].sum())
        pair_flag, _ = _starts(key)
        key //= self.n_sens
        _, starts = _starts(key)
        sizes = np.add.reduceat(counts, starts)
        distinct = np.add.reduceat(pair_flag.astype(np.int64), starts)
        return int(sizes[(sizes < self.k) | (distinct < self.l_div)].sum())


class _Lattice:
    """All nodes, their classification, and Flash-style tagging."""

    def __init__(self, heights: list[int]) -> None:
        self.heights = heights
        self.nodes = np.array(
            list(itertools.product(*(range(h + 1) for h in heights))), dtype=np.int16
        ).reshape(-1, len(heights))
        self.strides = [math.prod(h + 1 for h in heights[i + 1 :]) for i in range(len(heights))]
        self.status = np.zeros(len(self.nodes), dtype=np.int8)
        self.supp = np.full(len(self.nodes), -1, dtype=np.int64)
        cols = [self.nodes[:, q] for q in range(len(heights))]
        self.at_least = [
            [c >= lv for lv in range(h + 1)] for c, h in zip(cols, heights, strict=True)
        ]
        self.at_most = [
            [c <= lv for lv in range(h + 1)] for c, h in zip(cols, heights, strict=True)
        ]

    def _cone(self, idx: int, up: bool) -> np.ndarray:
        masks = self.at_least if up else self.at_most
        node = self.nodes[idx]
        out = masks[0][node[0]].copy()
        for q in range(1, len(self.heights)):
            out &= masks[q][node[q]]
        return out

    def tag(self, idx: int, anonymous: bool) -> None:
        """Tag ``idx`` and its successors (anonymous) or predecessors (not anonymous)."""
        mask = self._cone(idx, up=anonymous)
        mask &= self.status == _UNKNOWN
        self.status[mask] = _ANON if anonymous else _NOT_ANON

    def known_successor_supp(self, idx: int) -> int:
        """The most rows any checked successor of ``idx`` suppresses (a lower bound for it)."""
        found = self.supp[self._cone(idx, up=True)]
        return max(int(found.max()), 0)

    def path_up(self, idx: int, order: list[int], allowed: np.ndarray) -> list[int]:
        """An upward path of unclassified, ``allowed`` nodes from ``idx`` (QIs in ``order``)."""
        path = [idx]
        node = [int(v) for v in self.nodes[idx]]
        while True:
            for q in order:
                if node[q] < self.heights[q]:
                    nxt = path[-1] + self.strides[q]
                    if self.status[nxt] == _UNKNOWN and allowed[nxt]:
                        node[q] += 1
                        path.append(nxt)
                        break
            else:
                return path


class _Search:
    """Lazy Flash: classify only nodes whose lower bound can still beat the best objective.

    Keys are integers: objective * n * full * w.denominator, exact. Both bounds used for pruning
    rely on the key growing with the suppression s at a fixed node: d key / d s = full * w.num -
    bound * w.den >= 0 because bound <= full and w >= 1 (num >= den). Hence ``n * bound * den``
    (s = 0) bounds a node from below, and so does the key at the suppression of a checked
    successor (suppression only falls going up). A weight below 1 would break both.
    """

    def __init__(
        self,
        checker: _Checker,
        lattice: _Lattice,
        n: int,
        max_supp: int,
        suppression_weight: Fraction = Fraction(1),
    ) -> None:
        if suppression_weight < 1:
            raise ValueError("the search's bounds need a suppression weight of at least 1")
        self.checker, self.lattice, self.n, self.max_supp = checker, lattice, n, max_supp
        self.num, self.den = suppression_weight.numerator, suppression_weight.denominator
        heights = lattice.heights
        self.full = len(heights) * math.lcm(*[max(h, 1) for h in heights])  # loss of one cell, x
        weight = np.array([self.full // len(heights) // max(h, 1) for h in heights], np.int64)
        self.bound = lattice.nodes.astype(np.int64) @ weight  # prec * full, exact
        self.total = lattice.nodes.sum(axis=1, dtype=np.int64)
        self.order = sorted(range(len(heights)), key=lambda q: (int(weight[q]), q))
        self.best, self.best_key = -1, (math.inf, 0, 0)

    def key(self, idx: int, s: int) -> tuple[float, int, int]:
        """Objective * n * full * den (exact), then fewer levels, then the lower node index."""
        cost = (self.n - s) * int(self.bound[idx]) * self.den + s * self.full * self.num
        return (cost, int(self.total[idx]), idx)

    def check(self, idx: int) -> bool:
        """Check a node, tag the lattice, and keep it if it is the best so far."""
        s = self.checker.suppressed(self.lattice.nodes[idx])
        self.lattice.supp[idx] = s
        anonymous = s <= self.max_supp
        self.lattice.tag(idx, anonymous)
        if anonymous and (key := self.key(idx, s)) < self.best_key:
            self.best, self.best_key = idx, key
        return anonymous

    def run(self) -> int:
        """The index of the anonymous node of minimal objective; -1 if there is none."""
        lattice = self.lattice
        scale = self.n * self.den  # a node's key is at least scale * bound (s = 0), see above
        visit = np.lexsort((np.arange(len(self.bound)), self.total, self.bound))
        for idx in (int(i) for i in visit):
            if scale * int(self.bound[idx]) > self.best_key[0]:
                break
            if lattice.status[idx] == _UNKNOWN:
                # scale * bound <= best, as bound <= best // scale (no int64 overflow)
                cap = int(self.best_key[0]) // scale if self.best >= 0 else int(self.bound.max())
                allowed = self.bound <= cap
                path = lattice.path_up(idx, self.order, allowed)
                lo, hi = 0, len(path) - 1
                if self.best >= 0 and not self.check(path[-1]):
                    continue  # most of the band is not anonymous: try the top of the path first
                while lo <= hi:
                    mid = (lo + hi) // 2
                    state = lattice.status[path[mid]]
                    if state == _ANON or (state == _UNKNOWN and self.check(path[mid])):
                        hi = mid - 1
                    else:
                        lo = mid + 1
            if lattice.status[idx] != _ANON or lattice.supp[idx] >= 0:
                continue  # not anonymous, or checked (and kept if best)
            s_low = lattice.known_successor_supp(idx)  # suppression only falls going up,
            if self.key(idx, s_low) < self.best_key:  # and the key grows with it (w >= 1)
                self.check(idx)
        return self.best


def _entropy_bits(
    qis: list[_Qi], node: Sequence[int], kept_rows: np.ndarray
) -> tuple[float, float]:
    """Non-uniform entropy of the output (suppressed rows as ``*``) and of all-``*``."""
    bits = top = 0.0
    n = len(kept_rows)
    for q, level in zip(qis, node, strict=True):
        f_orig = np.bincount(q.codes)[q.codes].astype(np.float64)
        gen = q.maps[level][q.codes]
        f_gen = np.bincount(gen)[gen].astype(np.float64)
        f_gen = np.where(kept_rows, f_gen, n)
        bits += float(np.sum(np.log2(f_gen / f_orig)))
        top += float(np.sum(np.log2(n / f_orig)))
    return bits, top


def anonymise(
    columns: Mapping[str, Sequence[str]],
    qi: Sequence[str],
    hierarchies: Mapping[str, Hierarchy],
    k: int,
    *,
    sensitive: str | None = None,
    l_diversity: int | None = None,
    max_suppression: float = 0.05,
    suppression_weight: float | str | Fraction = 1,
) -> KAnonResult:
    """k-anonymise (and distinct-l-diversify) ``columns`` by the optimal global recoding.

    ``columns`` maps each column name to its string values (column order is kept). A suppressed
    row costs ``suppression_weight`` (1 to 1000) fully generalised rows in the objective. Raises
    InvalidInput for bad arguments, a value a hierarchy lacks, or when no node satisfies the
    constraints within the suppression limit (field ``k``).
    """
    started = time.perf_counter()
    n = _validate(columns, qi, hierarchies, k, sensitive, l_diversity, max_suppression)
    weight = _weight(suppression_weight)
    qis = [_encode(columns[name], hierarchies[name]) for name in qi]
    sens = _factorise(columns[sensitive])[0] if sensitive is not None else None
    l_div = l_diversity or 1
    heights = [q.height for q in qis]
    size = math.prod(h + 1 for h in heights)
    if size > MAX_LATTICE:
        raise InvalidInput(
            f"the generalisation lattice has {size} nodes (limit {MAX_LATTICE}): "
            "use fewer quasi-identifiers or shorter hierarchies",
            field="qi",
        )
    max_supp = math.floor(round(max_suppression * n, 9))
    checker = _Checker(qis, sens, k, l_div)
    lattice = _Lattice(heights)
    best = _Search(checker, lattice, n, max_supp, weight).run()
    if best < 0:
        what = f"{k}-anonymity" + (f" with {l_div}-diversity of {sensitive!r}" if sensitive else "")
        raise InvalidInput(
            f"no generalisation reaches {what} with at most {max_supp} of {n} rows suppressed "
            f"({max_suppression:.1%}); allow more suppression or lower k",
            field="k",
        )
    node = [int(v) for v in lattice.nodes[best]]
    nodes_checked = checker.checked
    cls, sizes, ok = checker.classes(node)
    kept = ok[cls][checker.row_base]
    keep_idx = np.flatnonzero(kept)
    out: dict[str, list[str]] = {}
    qi_pos = {name: i for i, name in enumerate(qi)}
    for name, values in columns.items():
        if name in qi_pos:
            q, level = qis[qi_pos[name]], node[qi_pos[name]]
            labels = q.labels[level]
            out[name] = [labels[c] for c in q.maps[level][q.codes[keep_idx]].tolist()]
        else:
            out[name] = [values[i] for i in keep_idx.tolist()]
    suppressed = n - len(keep_idx)
    kept_sizes = sizes[ok & (sizes > 0)]
    prec = sum(lv / h for lv, h in zip(node, heights, strict=True) if h) / len(qi)
    bits, top = _entropy_bits(qis, node, kept)
    report = KAnonReport(
        k=k,
        l_diversity=l_diversity,
        sensitive=sensitive,
        max_suppression=float(max_suppression),
        suppression_weight=float(weight),
        qi=list(qi),
        levels=dict(zip(qi, node, strict=True)),
        heights=dict(zip(qi, heights, strict=True)),
        rows_in=n,
        rows_out=len(keep_idx),
        suppressed=suppressed,
        classes=len(kept_sizes),
        min_class_size=int(kept_sizes.min()) if len(kept_sizes) else 0,
        prec=prec,
        loss=((n - suppressed) * prec + suppressed) / n,
        objective=((n - suppressed) * prec + float(weight) * suppressed) / n,
        discernibility=int(np.sum(kept_sizes.astype(np.int64) ** 2)) + suppressed * n,
        non_uniform_entropy=bits / top if top > 0 else 0.0,
        non_uniform_entropy_bits=bits,
        lattice_size=size,
        nodes_checked=nodes_checked,
        seconds=time.perf_counter() - started,
    )
    return KAnonResult(out, report)
