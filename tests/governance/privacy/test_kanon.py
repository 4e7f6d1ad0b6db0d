"""k-anonymity by global recoding: hand-checked tables, a brute-force oracle, pycanon as judge."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from fractions import Fraction
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycanon import anonymity

from citybrain.governance.privacy import kanon
from citybrain.governance.privacy.hierarchy import Hierarchy, from_rows, hierarchies_for
from citybrain.governance.privacy.kanon import KAnonResult, anonymise
from citybrain.kernel.errors import InvalidInput

AGE = from_rows(
    "age", [("20", "20-29", "*"), ("25", "20-29", "*"), ("30", "30-39", "*"), ("35", "30-39", "*")]
)
SEX = from_rows("sex", [("M", "*"), ("F", "*")])
HAND = {
    "id": ["0", "1", "2", "3", "4", "5", "6"],
    "age": ["20", "25", "20", "30", "35", "30", "35"],
    "sex": ["M", "M", "M", "F", "F", "F", "M"],
    "disease": ["flu", "flu", "flu", "cold", "flu", "hiv", "cold"],
}


def frame(result: KAnonResult) -> pd.DataFrame:
    return pd.DataFrame(result.columns)


# -- a brute-force oracle, written independently of the implementation -----------------------


def suppression(
    columns: Mapping[str, Sequence[str]],
    qi: Sequence[str],
    hs: Mapping[str, Hierarchy],
    k: int,
    sensitive: str | None,
    l_div: int | None,
) -> dict[tuple[int, ...], int]:
    """Every node of the lattice -> rows in classes under k (or with under l sensitive values)."""
    n = len(columns[qi[0]])
    out = {}
    for node in itertools.product(*(range(hs[q].height + 1) for q in qi)):
        keys = [
            tuple(hs[q].generalise(columns[q][i], lv) for q, lv in zip(qi, node, strict=True))
            for i in range(n)
        ]
        size = Counter(keys)
        values: dict[tuple[str, ...], set[str]] = defaultdict(set)
        if sensitive:
            for key, v in zip(keys, columns[sensitive], strict=True):
                values[key].add(v)
        bad = {c for c in size if size[c] < k or (sensitive and len(values[c]) < (l_div or 0))}
        out[node] = sum(size[c] for c in bad)
    return out


def oracle(
    columns: Mapping[str, Sequence[str]],
    qi: Sequence[str],
    hs: Mapping[str, Hierarchy],
    k: int,
    sensitive: str | None,
    l_div: int | None,
    max_supp: int,
) -> dict[tuple[int, ...], tuple[int, Fraction]]:
    """Every anonymous node -> (suppressed rows, exact loss)."""
    n = len(columns[qi[0]])
    heights = [hs[q].height for q in qi]
    out = {}
    for node, s in suppression(columns, qi, hs, k, sensitive, l_div).items():
        if s <= max_supp:
            prec = sum(Fraction(lv, h) for lv, h in zip(node, heights, strict=True)) / len(qi)
            out[node] = (s, ((n - s) * prec + s) / n)
    return out


def check_against_oracle(
    columns: dict[str, list[str]],
    qi: list[str],
    hs: Mapping[str, Hierarchy],
    k: int,
    sensitive: str | None,
    l_div: int | None,
    max_suppression: float,
) -> None:
    n = len(columns["id"])
    max_supp = math.floor(round(max_suppression * n, 9))
    good = oracle(columns, qi, hs, k, sensitive, l_div, max_supp)
    if not good:
        with pytest.raises(InvalidInput) as err:
            anonymise(columns, qi, hs, k, sensitive=sensitive, l_diversity=l_div,
                      max_suppression=max_suppression)  # fmt: skip
        assert err.value.field == "k"
        return
    result = anonymise(
        columns, qi, hs, k, sensitive=sensitive, l_diversity=l_div, max_suppression=max_suppression
    )
    rep = result.report
    node = tuple(rep.levels[q] for q in qi)
    best = min(loss for _, loss in good.values())
    assert node in good, "the chosen node is not anonymous"
    assert good[node][1] == best, "a node with lower loss is anonymous"
    assert node == min(good, key=lambda nd: (good[nd][1], sum(nd), nd)), "ties: fewest levels"
    assert rep.suppressed == good[node][0] <= max_supp
    assert abs(rep.loss - float(best)) < 1e-9
    # minimality: no anonymous predecessor has lower or equal loss
    for other, (_, loss) in good.items():
        if other != node and all(a <= b for a, b in zip(other, node, strict=True)):
            assert loss > best
            assert max_suppression > 0  # without suppression the optimum is minimal
    # the output: same columns, suppressed rows gone, QIs generalised, pycanon agrees
    assert list(result.columns) == list(columns)
    assert rep.rows_out == len(result.columns["id"]) == n - rep.suppressed
    for j, row_id in enumerate(result.columns["id"]):
        i = int(row_id)
        for q, lv in zip(qi, node, strict=True):
            assert result.columns[q][j] == hs[q].generalise(columns[q][i], lv)
        if sensitive:
            assert result.columns[sensitive][j] == columns[sensitive][i]
    df = frame(result)
    assert anonymity.k_anonymity(df, qi) >= k
    assert rep.min_class_size == anonymity.k_anonymity(df, qi)
    assert rep.classes == len(df.groupby(qi))
    if sensitive:
        assert anonymity.l_diversity(df, qi, [sensitive]) >= l_div


# -- hand-checkable tables --------------------------------------------------------------------


def test_hand_checked_without_suppression() -> None:
    result = anonymise(HAND, ["age", "sex"], {"age": AGE, "sex": SEX}, 2, max_suppression=0)
    # (age 20-29, sex) leaves (30-39, M) alone; (*, sex) has prec 0.5 < (20-29, *) at 0.75
    assert result.report.levels == {"age": 2, "sex": 0}
    assert result.columns["age"] == ["*"] * 7
    assert result.columns["sex"] == HAND["sex"]
    assert result.report.suppressed == 0 and result.report.classes == 2
    assert result.report.prec == 0.5 and result.report.loss == 0.5
    assert result.report.discernibility == 4**2 + 3**2
    assert anonymity.k_anonymity(frame(result), ["age", "sex"]) == 3


def test_hand_checked_with_suppression() -> None:
    result = anonymise(HAND, ["age", "sex"], {"age": AGE, "sex": SEX}, 2, max_suppression=0.15)
    # one row may go: (age 20-29/30-39, sex) suppresses the lone 35-year-old man, loss 2.5/7
    rep = result.report
    assert rep.levels == {"age": 1, "sex": 0}
    assert rep.suppressed == 1 and rep.rows_out == 6
    assert result.columns == {
        "id": ["0", "1", "2", "3", "4", "5"],
        "age": ["20-29", "20-29", "20-29", "30-39", "30-39", "30-39"],
        "sex": ["M", "M", "M", "F", "F", "F"],
        "disease": ["flu", "flu", "flu", "cold", "flu", "hiv"],
    }
    assert rep.prec == 0.25 and rep.loss == pytest.approx(2.5 / 7)
    assert rep.discernibility == 3**2 + 3**2 + 1 * 7
    assert 0 < rep.non_uniform_entropy < 1
    assert anonymity.k_anonymity(frame(result), ["age", "sex"]) == 3


def test_hand_checked_l_diversity() -> None:
    hs = {"age": AGE, "sex": SEX}
    result = anonymise(
        HAND, ["age", "sex"], hs, 2, sensitive="disease", l_diversity=2, max_suppression=0.15
    )
    # (20-29, M) has only flu, so age goes to * and the classes are (*, M) and (*, F)
    assert result.report.levels == {"age": 2, "sex": 0}
    assert result.report.suppressed == 0
    df = frame(result)
    assert anonymity.l_diversity(df, ["age", "sex"], ["disease"]) == 2
    check_against_oracle(HAND, ["age", "sex"], hs, 2, "disease", 2, 0.15)


def test_hand_checked_against_oracle() -> None:
    for ms in (0, 0.15, 0.3, 0.5):
        for k in (2, 3, 4):
            check_against_oracle(HAND, ["age", "sex"], {"age": AGE, "sex": SEX}, k, None, None, ms)


def test_impossible_raises_on_k() -> None:
    with pytest.raises(InvalidInput) as err:
        anonymise(HAND, ["age", "sex"], {"age": AGE, "sex": SEX}, 8)
    assert err.value.field == "k" and "8-anonymity" in err.value.detail
    same = {**HAND, "disease": ["flu"] * 7}
    with pytest.raises(InvalidInput) as err:
        anonymise(same, ["age"], {"age": AGE}, 2, sensitive="disease", l_diversity=2)
    assert err.value.field == "k" and "2-diversity" in err.value.detail


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"k": 1}, "k", "at least 2"),
        ({"k": 2.5}, "k", "integer"),
        ({"k": True}, "k", "integer"),
        ({"l_diversity": 2}, "l", "together"),
        ({"sensitive": "disease"}, "l", "together"),
        ({"sensitive": "disease", "l_diversity": 1}, "l", "at least 2"),
        ({"sensitive": "nope", "l_diversity": 2}, "sensitive", "nope"),
        ({"sensitive": "age", "l_diversity": 2}, "sensitive", "both"),
        ({"max_suppression": 1.0}, "max_suppression", "[0, 1)"),
        ({"max_suppression": -0.1}, "max_suppression", "[0, 1)"),
        ({"qi": ["age", "weight"]}, "qi", "weight"),
        ({"qi": []}, "qi", "at least one"),
        ({"qi": ["age", "age"]}, "qi", "twice"),
    ],
)
def test_validation(kwargs: dict[str, object], field: str, words: str) -> None:
    args: dict[str, object] = {"qi": ["age", "sex"], "k": 2, **kwargs}
    qi, k = args.pop("qi"), args.pop("k")
    with pytest.raises(InvalidInput) as err:
        anonymise(HAND, qi, {"age": AGE, "sex": SEX}, k, **args)  # type: ignore[arg-type]
    assert err.value.field == field and words in err.value.detail


def test_no_rows_and_value_missing_from_hierarchy() -> None:
    with pytest.raises(InvalidInput) as err:
        anonymise({"age": []}, ["age"], {"age": AGE}, 2)
    assert err.value.field == "input"
    with pytest.raises(InvalidInput) as err:
        anonymise({"age": ["20", "99"]}, ["age"], {"age": AGE}, 2)
    assert "'age'" in err.value.detail and "'99'" in err.value.detail


# -- random tables: the oracle decides --------------------------------------------------------

ZIP = from_rows(
    "zip",
    [(z, z[:4] + "*", z[:3] + "**", "*") for z in ("13053", "13058", "13068", "14850", "14853")],
)


@st.composite
def tables(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(1, 40))
    ages = draw(st.lists(st.integers(16, 70).map(str), min_size=n, max_size=n))
    zips = draw(st.lists(st.sampled_from(sorted(ZIP.table)), min_size=n, max_size=n))
    jobs = draw(st.lists(st.sampled_from("abcd"), min_size=n, max_size=n))
    sens = draw(st.lists(st.sampled_from(["flu", "cold", "hiv"]), min_size=n, max_size=n))
    columns = {"id": [str(i) for i in range(n)], "age": ages, "zip": zips, "job": jobs, "dx": sens}
    qi = draw(
        st.sampled_from([["age", "zip"], ["age", "job"], ["zip", "job"], ["age", "zip", "job"]])
    )
    diverse = draw(st.booleans())
    return {
        "columns": columns,
        "qi": qi,
        "k": draw(st.integers(2, 5)),
        "sensitive": "dx" if diverse else None,
        "l_div": draw(st.integers(2, 3)) if diverse else None,
        "max_suppression": draw(st.sampled_from([0.0, 0.05, 0.1, 0.25])),
        "path": draw(st.sampled_from(["auto", "sort", "unique"])),
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=tables())
def test_random_tables_match_the_oracle(case: dict[str, object]) -> None:
    columns: dict[str, list[str]] = case["columns"]  # type: ignore[assignment]
    qi: list[str] = case["qi"]  # type: ignore[assignment]
    hs = hierarchies_for(columns, [q for q in qi if q != "zip"])
    if "zip" in qi:
        hs["zip"] = ZIP
    with ExitStack() as stack:  # force each way of counting classes
        if case["path"] != "auto":
            stack.enter_context(patch.object(kanon, "_bincount_limit", lambda m: 0))
        if case["path"] == "unique":
            stack.enter_context(patch.object(kanon, "_KEY_LIMIT", 64))
        check_against_oracle(
            columns, qi, hs, case["k"], case["sensitive"], case["l_div"], case["max_suppression"]
        )  # type: ignore[arg-type]


@pytest.mark.parametrize("diverse", [False, True])
def test_larger_table_every_node_and_way_of_counting(diverse: bool) -> None:
    rng = np.random.default_rng(7)
    n = 1500
    dx = rng.choice(["flu", "cold", "hiv", "ok"], n, p=[0.1, 0.1, 0.05, 0.75])
    columns = {
        "id": [str(i) for i in range(n)],
        "age": [str(a) for a in rng.integers(18, 90, n)],
        "zip": [str(z) for z in rng.choice(sorted(ZIP.table), n)],
        "job": [f"j{j}" for j in rng.integers(0, 30, n)],
        "dx": [str(d) for d in dx],
    }
    qi = ["age", "zip", "job"]
    hs = {**hierarchies_for(columns, ["age", "job"]), "zip": ZIP}
    sensitive, l_div = ("dx", 2) if diverse else (None, None)
    expected = suppression(columns, qi, hs, 4, sensitive, l_div)
    qis = [kanon._encode(columns[q], hs[q]) for q in qi]
    sens = kanon._factorise(columns["dx"])[0] if diverse else None
    checker = kanon._Checker(qis, sens, 4, l_div or 1)
    spaces = []
    for node, s in expected.items():
        spaces.append(math.prod(checker.cards[i][lv] for i, lv in enumerate(node)))
        assert checker.suppressed(node) == s, node
        _, sizes, ok = checker.classes(node)
        assert int(sizes[~ok].sum()) == s
    assert max(spaces) > checker.bincount_limit >= min(spaces)  # both ways of counting
    check_against_oracle(columns, qi, hs, 4, sensitive, l_div, 0.05)
