"""The usable-but-not-visible sandbox: exact aggregates, singling-out refusals, the grant's
column rules, injection, differential privacy and budget accounting."""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.governance.privacy.sandbox import (
    REASONS,
    AggregateQuery,
    MemoryBudget,
    PrivacyBudget,
    SandboxPolicy,
    SandboxRefused,
    run_query,
)
from citybrain.governance.privacy.sandbox_sql import compile_query, run_sql
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import t

DISTRICTS = ("上城区", "西湖区", "拱墅区", "滨江区")


def make_people(per_cell: int = 0, seed: int = 7, n: int = 600) -> list[dict[str, Any]]:
    """Random people; ``per_cell`` > 0 gives exactly that many per (district, year) instead.
    Always adds two people in the tiny district 余杭区 and one 99-year-old."""
    rng = random.Random(seed)
    cells = [(d, y) for d in DISTRICTS for y in (2023, 2024)]
    keys = [c for c in cells for _ in range(per_cell)] if per_cell else None
    people = []
    for i in range(len(keys) if keys else n):
        district, year = keys[i] if keys else (rng.choice(DISTRICTS), rng.choice((2023, 2024)))
        people.append(
            {
                "id_number": f"33010619{i:010d}",
                "name": f"居民{i}",
                "district": district,
                "year": year,
                "sex": rng.choice("FM"),
                "age": rng.randint(18, 90),
                "amount": None if i % 50 == 0 else round(rng.uniform(0, 1000), 2),
            }
        )
    for j, district in enumerate(("余杭区", "余杭区", "西湖区")):
        people.append(
            {
                "id_number": f"33011019{j:010d}",
                "name": f"少数{j}",
                "district": district,
                "year": 2024,
                "sex": "F",
                "age": 99 if j == 2 else 40,
                "amount": 10.0,
            }
        )
    return people


PEOPLE = make_people()
POLICY = SandboxPolicy(
    groupable={"district", "year", "sex"},
    aggregatable={"age", "amount"},
    bounds={"age": (0, 120), "amount": (0, 1000)},
    min_group=5,
)


def refused(reason: str, call: Callable[[], Any]) -> SandboxRefused:
    with pytest.raises(SandboxRefused) as info:
        call()
    assert info.value.reason == reason, info.value.detail
    return info.value


def run(query: dict[str, Any], data: Any = None, policy: SandboxPolicy = POLICY, **kw: Any):
    return run_query(query, PEOPLE if data is None else data, policy, dataset_id="d1", **kw)


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
}


def py_groups(rows: Iterable[dict[str, Any]], query: dict[str, Any]) -> dict[tuple, list[dict]]:
    """The plain-Python reference: rows matching ``where``, grouped."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if all(
            row[c["column"]] is not None and OPS[c["op"]](row[c["column"]], c["value"])
            for c in query.get("where", [])
        ):
            groups[tuple(row[k] for k in query.get("group_by", []))].append(row)
    return groups


def py_aggregate(fn: str, column: str | None, members: list[dict]) -> Any:
    if fn == "count":
        return len(members)
    values = [m[column] for m in members if m[column] is not None]
    return sum(values) if fn == "sum" else statistics.fmean(values)


# ------------------------------------------------------------------------------------------
# exact aggregates and suppression


QUERY = {
    "group_by": ["district", "year"],
    "aggregates": [
        {"fn": "count"},
        {"fn": "sum", "column": "amount"},
        {"fn": "mean", "column": "age"},
    ],
    "where": [
        {"column": "sex", "op": "=", "value": "F"},
        {"column": "age", "op": ">=", "value": 30},
    ],
    "dp": None,
}


def test_exact_aggregates_equal_plain_python() -> None:
    result = run(QUERY)
    groups = py_groups(PEOPLE, QUERY)
    assert result.columns == ("district", "year", "count", "sum(amount)", "mean(age)")
    expected = {
        key: [py_aggregate(a["fn"], a.get("column"), members) for a in QUERY["aggregates"]]
        for key, members in groups.items()
        if len(members) >= 5
    }
    got = {row[:2]: list(row[2:]) for row in result.rows}
    assert got.keys() == expected.keys() and len(got) == 8
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, rel=1e-12)
    assert result.suppressed_groups == len(groups) - len(expected) == 1  # 余杭区 (2 people)
    assert result.rows_selected == sum(len(m) for m in groups.values())
    assert result.epsilon_spent == 0 and result.noise is None and result.remaining_budget is None
    assert [r[:2] for r in result.rows] == sorted(r[:2] for r in result.rows)
    assert result.as_dicts()[0]["district"] == result.rows[0][0]
    assert json.dumps(result.to_dict(), ensure_ascii=False)


def test_ungrouped_and_in_operator() -> None:
    query = {
        "aggregates": [{"fn": "count"}, {"fn": "mean", "column": "amount"}],
        "where": [{"column": "district", "op": "in", "value": ["上城区", "滨江区"]}],
    }
    result = run(query)
    members = py_groups(PEOPLE, query)[()]
    assert result.rows == ((len(members), pytest.approx(py_aggregate("mean", "amount", members))),)
    assert result.suppressed_groups == 0 and result.rows_selected == len(members)


def test_small_groups_suppressed_and_counted() -> None:
    result = run({"group_by": ["district"], "aggregates": [{"fn": "count"}]})
    assert {row[0] for row in result.rows} == set(DISTRICTS)
    assert result.suppressed_groups == 1
    assert all(row[1] >= 5 for row in result.rows)
    assert result.rows_selected == len(PEOPLE)


def test_where_selecting_one_person_refused() -> None:
    error = refused(
        "singles_out",
        lambda: run({"aggregates": [{"fn": "sum", "column": "amount"}], "where": [_eq("age", 99)]}),
    )
    assert error.field == "where" and error.params == {"min_group": 5}
    assert error.message("zh-CN") == "查询选中的人数少于最小群组 5，可能识别出个人，已拒绝。"
    refused(
        "singles_out",
        lambda: run({"aggregates": [{"fn": "count"}], "where": [_eq("district", "余杭区")]}),
    )
    # the whole dataset smaller than one group
    refused("singles_out", lambda: run({"aggregates": [{"fn": "count"}]}, data=PEOPLE[:4]))


def test_where_leaving_out_one_person_refused() -> None:
    """Differencing: `age != 99` against the unfiltered count would reveal the 99-year-old."""
    error = refused(
        "singles_out",
        lambda: run({"aggregates": [{"fn": "count"}], "where": [_op("age", "!=", 99)]}),
    )
    assert error.message_key == "sandbox.refused.singles_out_complement"
    assert run({"aggregates": [{"fn": "count"}]}).rows == ((len(PEOPLE),),)


def test_all_groups_small_refused() -> None:
    data = [
        {"district": f"D{i}", "year": 2024, "sex": "F", "age": 30, "amount": 1.0} for i in range(12)
    ]
    error = refused(
        "all_groups_small",
        lambda: run({"group_by": ["district"], "aggregates": [{"fn": "count"}]}, data),
    )
    assert error.field == "group_by"


def _eq(column: str, value: Any) -> dict[str, Any]:
    return _op(column, "=", value)


def _op(column: str, op: str, value: Any) -> dict[str, Any]:
    return {"column": column, "op": op, "value": value}


# ------------------------------------------------------------------------------------------
# the grant's columns, types, injection


@pytest.mark.parametrize("column", ["name", "id_number"])
def test_group_by_identifier_refused(column: str) -> None:
    error = refused(
        "column_not_allowed",
        lambda: run({"group_by": ["district", column], "aggregates": [{"fn": "count"}]}),
    )
    assert error.field == "group_by[1]" and error.params == {"column": column}
    assert column in error.detail and column in error.message("en")
    problem = error.to_problem()
    assert problem["status"] == 422 and problem["reason"] == "column_not_allowed"
    assert problem["message_key"] == "sandbox.refused.column_not_allowed"


def test_filter_and_aggregate_outside_grant_refused() -> None:
    error = refused(
        "column_not_allowed",
        lambda: run(
            {"aggregates": [{"fn": "count"}], "where": [_eq("id_number", "330106190000000001")]}
        ),
    )
    assert error.field == "where[0].column"
    error = refused(
        "column_not_allowed",
        lambda: run({"aggregates": [{"fn": "count"}, {"fn": "sum", "column": "year"}]}),
    )
    assert error.field == "aggregates[1].column"


def test_aggregating_a_string_column_refused() -> None:
    loose = SandboxPolicy(groupable={"district"}, aggregatable={"name", "age"}, min_group=5)
    error = refused(
        "column_not_numeric",
        lambda: run({"aggregates": [{"fn": "sum", "column": "name"}]}, policy=loose),
    )
    assert error.field == "aggregates[0].column" and error.params == {"column": "name"}


@pytest.mark.parametrize(
    "query",
    [
        {"aggregates": [{"fn": "sum", "column": "age; DROP TABLE data"}]},
        {"group_by": ['district" FROM data; --'], "aggregates": [{"fn": "count"}]},
        {"aggregates": [{"fn": "count"}], "where": [_eq("1=1 OR age", 1)]},
        {"aggregates": [{"fn": "sum", "column": "*"}]},
    ],
)
def test_injection_in_column_names_refused(query: dict[str, Any]) -> None:
    refused("column_not_allowed", lambda: run(query))


def test_odd_column_names_are_quoted() -> None:
    data = [{'a"b': "x", "age; DROP TABLE data": 3} for _ in range(6)]
    policy = SandboxPolicy(groupable={'a"b'}, aggregatable={"age; DROP TABLE data"}, min_group=5)
    query = {"group_by": ['a"b'], "aggregates": [{"fn": "sum", "column": "age; DROP TABLE data"}]}
    assert run(query, data, policy).rows == (("x", 18),)


@pytest.mark.parametrize("value", ["' OR 1=1 --", "F' OR '1'='1", "x'); DROP TABLE data; --"])
def test_injection_in_values_compared_literally(value: str) -> None:
    table = pa.Table.from_pylist(PEOPLE)
    query = AggregateQuery.from_dict(
        {"aggregates": [{"fn": "count"}], "where": [_eq("sex", value)]}
    )
    assert run_sql(table, compile_query(query)) == [(0,)]  # zero rows match the literal text
    refused("singles_out", lambda: run(query.to_dict(), table))
    everyone = run({"aggregates": [{"fn": "count"}], "where": [_op("sex", "!=", value)]}, table)
    assert everyone.rows == ((len(PEOPLE),),)
    assert value not in compile_query(query).sql


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"aggregates": [{"fn": "count"}, {"fn": "max", "column": "age"}]}, "aggregates[1].fn"),
        ({"aggregates": [{"fn": "count"}], "where": [_op("age", "LIKE", 3)]}, "where[0].op"),
        ({"aggregates": [{"fn": "sum"}]}, "aggregates[0].column"),
        ({"aggregates": [{"fn": "sum", "column": 3}]}, "aggregates[0].column"),
        ({"aggregates": [{"fn": "count", "column": "age"}]}, "aggregates[0].column"),
        ({"aggregates": []}, "aggregates"),
        ({"group_by": ["district"]}, "aggregates"),
        ({"group_by": "district", "aggregates": [{"fn": "count"}]}, "group_by"),
        (
            {
                "group_by": ["district", "year", "sex", "age", "amount"],
                "aggregates": [{"fn": "count"}],
            },
            "group_by",
        ),
        ({"group_by": ["year", "year"], "aggregates": [{"fn": "count"}]}, "group_by[1]"),
        ({"aggregates": [{"fn": "count"}], "where": [_eq("age", {"$gt": 1})]}, "where[0].value"),
        ({"aggregates": [{"fn": "count"}], "where": [_eq("age", None)]}, "where[0].value"),
        (
            {"aggregates": [{"fn": "count"}], "where": [{"column": "age", "op": "="}]},
            "where[0].value",
        ),
        ({"aggregates": [{"fn": "count"}], "where": [_op("age", "in", 3)]}, "where[0].value"),
        (
            {"aggregates": [{"fn": "count"}], "where": [_op("age", "in", [1, [2]])]},
            "where[0].value[1]",
        ),
        ({"aggregates": [{"fn": "count"}], "where": [_eq("age", "thirty")]}, "where[0].value"),
        ({"aggregates": [{"fn": "count"}], "dp": {"epsilon": 0}}, "dp.epsilon"),
        ({"aggregates": [{"fn": "count"}], "dp": {"epsilon": -1}}, "dp.epsilon"),
        ({"aggregates": [{"fn": "count"}], "dp": {"epsilon": 10.5}}, "dp.epsilon"),
        ({"aggregates": [{"fn": "count"}], "dp": {"epsilon": "0.5"}}, "dp.epsilon"),
        ({"aggregates": [{"fn": "count"}], "dp": {"epsilon": True}}, "dp.epsilon"),
        ({"aggregates": [{"fn": "count"}], "dp": {"epsilon": 1, "delta": 0.1}}, "dp.delta"),
        ({"aggregates": [{"fn": "count"}], "groupby": ["district"]}, "groupby"),
        ({"aggregates": [{"fn": "count"}], "where": [_eq("height", 3)]}, None),  # see below
    ],
)
def test_invalid_queries_name_the_field(query: dict[str, Any], field: str | None) -> None:
    policy = SandboxPolicy(groupable={"district", "height"}, aggregatable={"age"}, min_group=5)
    with pytest.raises(InvalidInput) as info:
        run(query, policy=policy)
    assert not isinstance(info.value, SandboxRefused)
    if field is None:  # allowed by the grant but not in the data
        assert info.value.field == "where[0].column" and "not in the dataset" in info.value.detail
    else:
        assert info.value.field == field, info.value.detail


def test_fingerprint_is_canonical() -> None:
    a = AggregateQuery.from_dict(QUERY)
    b = AggregateQuery.from_dict(dict(reversed(list(QUERY.items()))))
    assert a.fingerprint() == b.fingerprint() == run(QUERY).query_fingerprint
    assert len(a.fingerprint()) == 64 and int(a.fingerprint(), 16) >= 0
    assert AggregateQuery.from_dict(a.to_dict()) == a
    other = AggregateQuery.from_dict({**QUERY, "group_by": ["year", "district"]})
    assert other.fingerprint() != a.fingerprint()


# ------------------------------------------------------------------------------------------
# differential privacy and budget


BIG = make_people(per_cell=300)


def test_dp_count_noise_matches_laplace_scale() -> None:
    epsilon = 0.5
    budget = MemoryBudget({"d1": 1000.0})
    query = {
        "aggregates": [{"fn": "count"}],
        "where": [_eq("sex", "F")],
        "dp": {"epsilon": epsilon},
    }
    exact = sum(1 for p in PEOPLE if p["sex"] == "F")
    errors = []
    for _ in range(300):
        result = run(query, budget=budget)
        errors.append(result.rows[0][0] - exact)
    assert result.rows_selected is None and result.suppressed_groups is None
    assert result.noise is not None and "OpenDP" in result.noise["mechanism"]
    assert result.noise["scales"]["count"] == pytest.approx(1 / epsilon)
    assert result.delta_spent == 0  # no group_by: the released key is public
    assert sum(e != 0 for e in errors) > 200  # results differ from the exact count
    assert max(abs(e) for e in errors) < 50 / epsilon
    mean_abs = statistics.fmean(abs(e) for e in errors)  # E|Laplace(b)| = b = 1/epsilon
    assert 0.5 / epsilon < mean_abs < 2 / epsilon
    assert abs(statistics.fmean(errors)) < 1.0  # unbiased
    assert budget.remaining("d1") == pytest.approx(1000 - 300 * epsilon)


def test_dp_grouped_release() -> None:
    budget = MemoryBudget({"d1": 10.0})
    query = {**QUERY, "where": [], "dp": {"epsilon": 3.0}}
    result = run(query, BIG, budget=budget)
    assert result.noise is not None
    assert result.noise["epsilon_split"] == {"count": 1.0, "sum(amount)": 1.0, "sum(age)": 1.0}
    assert result.noise["sensitivity"] == {"count": 1.0, "sum(amount)": 1000.0, "sum(age)": 120.0}
    threshold = result.noise["release_threshold"]
    assert threshold >= POLICY.min_group and result.delta_spent == POLICY.delta
    exact = py_groups(BIG, query)
    assert {row[:2] for row in result.rows} == {k for k, m in exact.items() if len(m) >= 300}
    differs = 0
    for district, year, count, total, mean in result.rows:
        members = exact[(district, year)]
        assert count >= threshold and abs(count - len(members)) < 50
        assert abs(total - py_aggregate("sum", "amount", members)) < 50 * 1000
        assert 0 <= mean <= 120 and abs(mean - py_aggregate("mean", "age", members)) < 10
        differs += count != len(members)
    assert differs >= 1
    assert budget.remaining("d1") == pytest.approx(7.0) == result.remaining_budget
    assert result.epsilon_spent == 3.0 and result.rows_selected is None


def test_dp_tiny_group_not_released() -> None:
    budget = MemoryBudget({"d1": 100.0})
    query = {"group_by": ["district"], "aggregates": [{"fn": "count"}], "dp": {"epsilon": 2.0}}
    for _ in range(20):
        result = run(query, BIG, budget=budget)
        assert {row[0] for row in result.rows} == set(DISTRICTS)  # never 余杭区 (2 people)


def test_dp_needs_bounds_and_charges_nothing_when_refused() -> None:
    budget = MemoryBudget({"d1": 1.0})
    no_bounds = SandboxPolicy(groupable={"district"}, aggregatable={"age", "amount"}, min_group=5)
    query = {
        "aggregates": [{"fn": "count"}, {"fn": "mean", "column": "amount"}],
        "dp": {"epsilon": 0.5},
    }
    error = refused("bounds_required", lambda: run(query, policy=no_bounds, budget=budget))
    assert error.params == {"column": "amount"} and error.field == "aggregates[1].column"
    refused("singles_out", lambda: run({**query, "where": [_eq("age", 99)]}, budget=budget))
    assert budget.remaining("d1") == 1.0 and budget.charges() == []


def test_budget_decreases_and_overspend_refused() -> None:
    budget = MemoryBudget({"d1": 1.0})
    query = {"aggregates": [{"fn": "count"}], "dp": {"epsilon": 0.3}}
    for expected in (0.7, 0.4, 0.1):
        assert run(query, budget=budget).remaining_budget == pytest.approx(expected)
    error = refused("budget_exhausted", lambda: run(query, budget=budget))
    assert error.params["dataset"] == "d1" and error.params["epsilon"] == 0.3
    assert "隐私预算已用尽" in error.message("zh-CN")
    assert budget.remaining("d1") == pytest.approx(0.1)
    assert len(budget.charges()) == 3
    assert budget.charges()[0][2] == AggregateQuery.from_dict(query).fingerprint()
    assert run({**query, "dp": {"epsilon": 0.1}}, budget=budget).remaining_budget == pytest.approx(
        0
    )
    refused("budget_exhausted", lambda: MemoryBudget({}).charge("other", 0.1, "f"))


class SlowBudget(MemoryBudget):
    """Reading the balance takes a while (as a database round trip would), so a check and a
    spend that are not one atomic step let concurrent charges overspend."""

    def _remaining(self, dataset_id: str) -> float:
        left = super()._remaining(dataset_id)
        time.sleep(0.0002)
        return left


def test_concurrent_charges_never_overspend() -> None:
    budget = SlowBudget({"d1": 1.0})
    assert isinstance(budget, PrivacyBudget)
    granted: list[int] = []
    barrier = threading.Barrier(8)

    def spend() -> None:
        barrier.wait()
        for _ in range(40):
            try:
                budget.charge("d1", 0.01, "fp")
                granted.append(1)
            except SandboxRefused:
                pass

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 100 and len(budget.charges()) == 100
    assert budget.remaining("d1") == pytest.approx(0, abs=1e-9)


def test_concurrent_queries_see_their_own_data() -> None:
    results: dict[int, Any] = {}

    def query(n: int) -> None:
        data = [{"district": "A", "year": 1, "sex": "F", "age": 1, "amount": 1.0}] * n
        results[n] = run({"aggregates": [{"fn": "count"}]}, data).rows[0][0]

    threads = [threading.Thread(target=query, args=(n,)) for n in range(5, 25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n for n in range(5, 25)}


def test_dp_needs_a_budget_and_grant_can_require_dp() -> None:
    with pytest.raises(ValueError, match="PrivacyBudget"):
        run({"aggregates": [{"fn": "count"}], "dp": {"epsilon": 1}})
    strict = SandboxPolicy(
        groupable={"district"}, aggregatable={"age"}, min_group=5, require_dp=True
    )
    refused("dp_required", lambda: run({"aggregates": [{"fn": "count"}]}, policy=strict))


# ------------------------------------------------------------------------------------------
# messages


def test_locale_files_have_the_same_keys_and_cover_every_reason() -> None:
    folder = resources.files("citybrain.kernel").joinpath("locales")
    en = json.loads(folder.joinpath("en/sandbox.json").read_text("utf-8"))
    zh = json.loads(folder.joinpath("zh-CN/sandbox.json").read_text("utf-8"))
    assert en.keys() == zh.keys()
    for reason in REASONS:
        assert f"sandbox.refused.{reason}" in en
    assert (
        "可用不可见" in zh["sandbox.name"]
        and zh["sandbox.result.suppressed_groups"] == "抑制的分组"
    )
    params = {"min_group": 5, "column": "c", "dataset": "d", "remaining": 0.1, "epsilon": 0.3}
    for key in en:
        for locale in ("en", "zh-CN"):
            text = t(key, locale, **params, count=1, threshold=9)
            assert "{" not in text and text != key


# ------------------------------------------------------------------------------------------
# property: only aggregates of large enough groups leave


SCHEMA = pa.schema(
    [
        ("id_number", pa.int64()),
        ("name", pa.string()),
        ("district", pa.string()),
        ("year", pa.int64()),
        ("age", pa.int64()),
        ("amount", pa.int64()),
    ]
)
PROP_POLICY_COLUMNS = {"groupable": {"district", "year"}, "aggregatable": {"age", "amount"}}
row_strategy = st.fixed_dictionaries(
    {
        "district": st.sampled_from(["A", "B", "C"]),
        "year": st.sampled_from([2023, 2024]),
        "age": st.integers(18, 24),
        "amount": st.integers(0, 100),
    }
)
condition_strategy = st.one_of(
    st.builds(
        _op, st.just("district"), st.sampled_from(["=", "!=", "<", ">="]), st.sampled_from("ABC")
    ),
    st.builds(
        _op, st.just("age"), st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), st.integers(17, 25)
    ),
    st.builds(
        _op,
        st.just("year"),
        st.just("in"),
        st.lists(st.sampled_from([2023, 2024]), min_size=1, max_size=2),
    ),
)
query_strategy = st.fixed_dictionaries(
    {
        "group_by": st.lists(st.sampled_from(["district", "year"]), unique=True, max_size=2),
        "aggregates": st.lists(
            st.sampled_from(
                [
                    {"fn": "count"},
                    {"fn": "sum", "column": "amount"},
                    {"fn": "mean", "column": "age"},
                ]
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda a: json.dumps(a),
        ),
        "where": st.lists(condition_strategy, max_size=2),
    }
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row_strategy, max_size=40),
    query=query_strategy,
    min_group=st.integers(2, 5),
)
def test_property_released_groups_are_large_and_aggregate_only(
    rows: list[dict[str, Any]], query: dict[str, Any], min_group: int
) -> None:
    people = [{"id_number": 10**12 + i, "name": f"name-{i}", **row} for i, row in enumerate(rows)]
    table = pa.Table.from_pylist(people, schema=SCHEMA)
    policy = SandboxPolicy(**PROP_POLICY_COLUMNS, min_group=min_group)
    groups = py_groups(people, query)
    selected = sum(len(m) for m in groups.values())
    try:
        result = run_query(query, table, policy, dataset_id="p")
    except SandboxRefused as error:
        if error.reason == "singles_out":
            left_out = len(people) - selected
            assert selected < min_group or (query["where"] and 0 < left_out < min_group)
        else:
            assert error.reason == "all_groups_small"
            assert query["group_by"] and all(len(m) < min_group for m in groups.values())
        return
    keys = len(query["group_by"])
    assert result.columns[:keys] == tuple(query["group_by"])
    assert len(result.columns) == keys + len(query["aggregates"])
    large = {k: m for k, m in groups.items() if len(m) >= min_group}
    assert {row[:keys] for row in result.rows} == set(large)
    assert result.suppressed_groups == len(groups) - len(large)
    assert result.rows_selected == selected >= min_group
    secrets = {p["name"] for p in people} | {p["id_number"] for p in people}
    for row in result.rows:
        members = large[row[:keys]]
        assert len(members) >= min_group
        for aggregate, value in zip(query["aggregates"], row[keys:], strict=True):
            assert value == pytest.approx(
                py_aggregate(aggregate["fn"], aggregate.get("column"), members)
            )
        assert not any(
            isinstance(v, str | int) and not isinstance(v, bool) and v in secrets for v in row
        )
