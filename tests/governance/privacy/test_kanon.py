"""k-anonymity by global recoding: hand-checked tables, a brute-force oracle, pycanon as judge."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from fractions import Fraction
from typing import Any
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycanon import anonymity

from citybrain.governance.privacy import kanon
from citybrain.governance.privacy.hierarchy import Hierarchy, from_rows, hierarchies_for
from citybrain.governance.privacy.kanon import KAnonReport, KAnonResult, anonymise
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


WEIGHTS = (Fraction(1), Fraction(2), Fraction(7, 3))


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
    weight: Fraction = Fraction(1),
) -> dict[tuple[int, ...], tuple[int, Fraction, Fraction]]:
    """Every anonymous node -> (suppressed rows, exact loss, exact objective with ``weight``)."""
    n = len(columns[qi[0]])
    heights = [hs[q].height for q in qi]
    out = {}
    for node, s in suppression(columns, qi, hs, k, sensitive, l_div).items():
        if s <= max_supp:
            prec = sum(Fraction(lv, h) for lv, h in zip(node, heights, strict=True)) / len(qi)
            out[node] = (s, ((n - s) * prec + s) / n, ((n - s) * prec + weight * s) / n)
    return out


def check_against_oracle(
    columns: dict[str, list[str]],
    qi: list[str],
    hs: Mapping[str, Hierarchy],
    k: int,
    sensitive: str | None,
    l_div: int | None,
    max_suppression: float,
    weight: Fraction = Fraction(1),
) -> KAnonReport | None:
    """The search's node is the oracle's optimum for the objective with ``weight`` (passed as
    given: the default when 1, an int when whole, else a float); the report, or None."""
    n = len(columns["id"])
    max_supp = math.floor(round(max_suppression * n, 9))
    good = oracle(columns, qi, hs, k, sensitive, l_div, max_supp, weight)
    kwargs: dict[str, Any] = {"sensitive": sensitive, "l_diversity": l_div}
    kwargs["max_suppression"] = max_suppression
    if weight != 1:
        whole = weight.denominator == 1
        kwargs["suppression_weight"] = int(weight) if whole else float(weight)
    if not good:
        with pytest.raises(InvalidInput) as err:
            anonymise(columns, qi, hs, k, **kwargs)
        assert err.value.field == "k"
        return None
    result = anonymise(columns, qi, hs, k, **kwargs)
    rep = result.report
    node = tuple(rep.levels[q] for q in qi)
    best = min(objective for _, _, objective in good.values())
    assert node in good, "the chosen node is not anonymous"
    assert good[node][2] == best, "a node with lower objective is anonymous"
    assert node == min(good, key=lambda nd: (good[nd][2], sum(nd), nd)), "ties: fewest levels"
    assert rep.suppressed == good[node][0] <= max_supp
    assert rep.suppression_weight == float(weight)
    assert abs(rep.objective - float(best)) < 1e-9
    assert abs(rep.loss - float(good[node][1])) < 1e-9  # unweighted, whatever the weight
    # minimality: no anonymous predecessor has lower or equal objective
    for other, (_, _, objective) in good.items():
        if other != node and all(a <= b for a, b in zip(other, node, strict=True)):
            assert objective > best
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
    return rep


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
    for w in WEIGHTS:
        check_against_oracle(HAND, ["age", "sex"], hs, 2, "disease", 2, 0.15, w)


def test_hand_checked_against_oracle() -> None:
    for ms in (0, 0.15, 0.3, 0.5):
        for k in (2, 3, 4):
            for w in WEIGHTS:
                hs = {"age": AGE, "sex": SEX}
                check_against_oracle(HAND, ["age", "sex"], hs, k, None, None, ms, w)


def test_suppression_weight_prefers_generalising() -> None:
    hs = {"age": AGE, "sex": SEX}
    default = anonymise(HAND, ["age", "sex"], hs, 2, max_suppression=0.15)
    one = anonymise(HAND, ["age", "sex"], hs, 2, max_suppression=0.15, suppression_weight=1)
    assert one.columns == default.columns
    assert one.report.to_dict() | {"seconds": 0} == default.report.to_dict() | {"seconds": 0}
    assert default.report.suppression_weight == 1.0
    assert default.report.objective == default.report.loss
    # w = 1: (20-29/30-39, sex) suppresses the lone 35-year-old man, objective (6 * 1/4 + 1) / 7.
    # (*, sex) suppresses nothing at objective 1/2 = 3.5 / 7: it wins once 1.5 + w > 3.5, w > 2
    assert default.report.levels == {"age": 1, "sex": 0} and default.report.suppressed == 1
    tie = anonymise(HAND, ["age", "sex"], hs, 2, max_suppression=0.15, suppression_weight=2)
    assert tie.report.levels == {"age": 1, "sex": 0}  # equal objective: fewer levels win
    assert tie.report.objective == pytest.approx(0.5) and tie.report.loss == pytest.approx(2.5 / 7)
    five = anonymise(HAND, ["age", "sex"], hs, 2, max_suppression=0.15, suppression_weight=5)
    rep = five.report
    assert rep.levels == {"age": 2, "sex": 0}  # more general than the w = 1 node
    assert rep.suppressed == 0 < default.report.suppressed and rep.rows_out == 7
    assert rep.suppression_weight == 5.0 and rep.objective == rep.loss == 0.5
    assert rep.loss > default.report.loss  # more rows kept at some loss
    assert five.columns["id"] == HAND["id"]
    for w in ("7/3", "2.5", Fraction(5, 2), 2.5):  # exact fractions, decimal strings, floats
        got = anonymise(HAND, ["age", "sex"], hs, 2, max_suppression=0.15, suppression_weight=w)
        assert got.report.levels == {"age": 2, "sex": 0}
        assert got.report.suppression_weight == float(Fraction(w))


def test_weighted_search_needs_a_weight_of_at_least_one() -> None:
    qis = [kanon._encode(HAND["age"], AGE)]
    checker = kanon._Checker(qis, None, 2, 1)
    with pytest.raises(ValueError, match="at least 1"):
        kanon._Search(checker, kanon._Lattice([AGE.height]), 7, 1, Fraction(1, 2))


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
        ({"suppression_weight": 0.5}, "suppression_weight", "from 1 to 1000"),
        ({"suppression_weight": 0}, "suppression_weight", "from 1 to 1000"),
        ({"suppression_weight": 1001}, "suppression_weight", "from 1 to 1000"),
        ({"suppression_weight": float("nan")}, "suppression_weight", "nan"),
        ({"suppression_weight": float("inf")}, "suppression_weight", "inf"),
        ({"suppression_weight": "abc"}, "suppression_weight", "'abc'"),
        ({"suppression_weight": "0.999"}, "suppression_weight", "from 1 to 1000"),
        ({"suppression_weight": True}, "suppression_weight", "True"),
        ({"suppression_weight": None}, "suppression_weight", "None"),
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
        suppressed = []
        for w in WEIGHTS:
            rep = check_against_oracle(
                columns, qi, hs, case["k"], case["sensitive"], case["l_div"],
                case["max_suppression"], w,
            )  # type: ignore[arg-type]  # fmt: skip
            suppressed.append(rep.suppressed if rep else None)
        # a larger weight never suppresses more: (w2 - w1)(s2 - s1) <= 0 at both optima
        found = [s for s in suppressed if s is not None]
        assert found == sorted(found, reverse=True)


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
    for w in WEIGHTS:
        check_against_oracle(columns, qi, hs, 4, sensitive, l_div, 0.05, w)
