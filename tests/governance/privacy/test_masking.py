"""Per-field masks: what each kind shows, that the raw value never comes out, validation, speed."""

from __future__ import annotations

import datetime as dt
import re
import string
import time
from collections import UserDict
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from citybrain.governance.privacy.masking import (
    BOOL_MASK,
    FieldMask,
    MaskKind,
    MaskPlan,
    mask_kind,
    parse_mask_spec,
)
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import catalogue, t

SALT = b"grant-salt-0123456789abcdef"
OTHER_SALT = b"another-grant-salt-987654321"

EXAMPLE_SPEC: dict[str, Any] = {
    "name": "MASK",
    "id_number": "SHOW_LAST_4",
    "phone": {"kind": "HASH"},
    "birth": "YEAR_ONLY",
    "age": {"kind": "GENERALIZE", "width": 10},
    "district": {"kind": "GENERALIZE", "hierarchy": {"西湖区": "杭州市", "上城区": "杭州市"}},
    "note": "NULL",
    "dept": "NONE",
}


def m(kind: str, **params: Any) -> FieldMask:
    return FieldMask(mask_kind(kind), salt=SALT, **params)


# --- strategies ------------------------------------------------------------------------------

AREAS = ("110101", "310104", "330106", "440305")  # valid region codes


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2010, 12, 31)))
    body = f"{draw(st.sampled_from(AREAS))}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + ric.calc_check_digit(body + "0")


cjk_text = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1)
emails = st.emails()
digits = st.text(st.sampled_from(string.digits), min_size=1, max_size=25)
raw_text = st.one_of(st.text(), cjk_text, digits, emails, id_numbers())
HIERARCHY = {"西湖区": "杭州市", "13800000000": "mobile"}
LEAKPROOF = ("MASK", "SHOW_LAST_4", "HASH", "NULL", "YEAR_ONLY")


def masked_kinds() -> list[FieldMask]:
    return [m(k) for k in LEAKPROOF] + [m("GENERALIZE", hierarchy=HIERARCHY)]


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(raw_text)
def test_masked_text_never_contains_the_raw_value(raw: str) -> None:
    assume(len(raw) >= 5)
    for mask in masked_kinds():
        out = mask.apply(raw)
        shown = "" if out is None else str(out)
        if mask.kind is MaskKind.SHOW_LAST_4:
            assert shown == "*" * (len(raw) - 4) + raw[-4:]  # only the last four
            if set(raw[:-4]) != {"*"}:
                assert raw not in shown
        elif mask.kind is MaskKind.MASK:
            assert len(shown) == len(raw)
            if any(mask.apply(c) != c for c in raw):  # not made only of x, X, *, punctuation
                assert raw not in shown
        else:
            assert raw not in shown, mask.kind


@settings(max_examples=150, deadline=None)
@given(st.integers().filter(lambda n: abs(n) >= 10_000))
def test_masked_numbers_never_contain_the_raw_value(raw: int) -> None:
    text = str(raw)
    for mask in masked_kinds():
        shown = str(mask.apply(raw))
        if mask.kind is MaskKind.SHOW_LAST_4:
            assert shown.endswith(text[-4:]) and set(shown[:-4]) == {"*"}
        assert text not in shown


@settings(max_examples=100, deadline=None)
@given(st.one_of(raw_text, st.integers()))
def test_hash_is_stable_per_salt_and_differs_between_salts(raw: str | int) -> None:
    mine, again = m("HASH"), FieldMask(MaskKind.HASH, salt=SALT)
    theirs = FieldMask(MaskKind.HASH, salt=OTHER_SALT)
    assert mine.apply(raw) == again.apply(raw)
    assert mine.apply(raw) != theirs.apply(raw)
    assert len(mine.apply(raw)) == 32 and set(mine.apply(raw)) <= set(string.hexdigits.lower())


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6)), st.integers(2, 50))
def test_generalize_by_width_shows_only_the_bucket(value: float, width: int) -> None:
    mask = m("GENERALIZE", width=width)
    label = mask.apply(value)
    bounds = re.fullmatch(r"(-?\d+)-(-?\d+)", label)
    assert bounds is not None, label
    low, high = int(bounds[1]), int(bounds[2])
    assert high == low + width - 1
    assert low <= value < low + width
    assert mask.apply(low) == mask.apply(low + width - 1) == label  # everyone in it looks alike


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from([*EXAMPLE_SPEC, "extra"]),
            st.one_of(st.none(), st.text(max_size=12), st.integers(), st.booleans()),
        ),
        max_size=8,
    )
)
def test_apply_rows_matches_apply_row(rows: list[dict[str, Any]]) -> None:
    plan = parse_mask_spec(EXAMPLE_SPEC, salt=SALT)
    expected = [plan.apply_row(r) for r in rows]
    assert plan.apply_rows(rows) == expected
    assert plan.apply_rows(UserDict(r) for r in rows) == expected  # any mapping, any iterable


# --- each kind -------------------------------------------------------------------------------


def test_none_stays_none_under_every_kind() -> None:
    for mask in [*masked_kinds(), m("NONE"), m("GENERALIZE", width=10)]:
        assert mask.apply(None) is None


def test_mask_keeps_the_shape_only() -> None:
    mask = m("MASK")
    assert mask.apply("Ab1-张@x.com") == "Xxn-*@x.xxx"
    assert mask.apply("欧阳娜娜") == "****"
    assert mask.apply("138-1234-5678") == "nnn-nnnn-nnnn"
    assert mask.apply("１２３Éé😀，") == "nnnXx**"  # fullwidth digits, accents, emoji, CJK comma
    assert mask.apply(-12.5) == "-nn.n"
    assert mask.apply(True) == mask.apply(False) == BOOL_MASK
    assert mask.apply({"secret": "13812345678"}) is None
    assert mask.apply(["a"]) is None


def test_show_last_4() -> None:
    mask = m("SHOW_LAST_4")
    assert mask.apply("330106199001011234") == "*" * 14 + "1234"
    assert mask.apply(13812345678) == "*******5678"
    assert mask.apply("1234") == "****"
    assert mask.apply("abc") == "***"
    assert mask.apply(False) == BOOL_MASK  # "False" would show "alse"
    assert mask.apply([1, 2, 3, 4, 5]) is None


def test_hash_of_types_and_containers() -> None:
    mask = m("HASH")
    assert mask.apply(42) == mask.apply("42")
    assert mask.apply({"a": 1, "b": 2}) == mask.apply({"b": 2, "a": 1})
    assert mask.apply([1, 2]) != mask.apply([2, 1])
    assert mask.apply("13812345678") != mask.apply("13812345679")


def test_null() -> None:
    assert m("NULL").apply("13812345678") is None
    assert m("NULL").apply(0) is None


@pytest.mark.parametrize(
    ("value", "year"),
    [
        (dt.date(1990, 5, 1), 1990),
        (dt.datetime(2001, 2, 3, 4, 5), 2001),
        ("1990-05-01", 1990),
        ("1990/5/1", 1990),
        ("1990.05.01", 1990),
        ("1990-05", 1990),
        ("19900501", 1990),
        ("1990年5月1日", 1990),
        ("1990年5月", 1990),
        ("2024-05-01T12:00:00+08:00", 2024),
        ("2024-05-01 12:00", 2024),
        ("2024-05-01T12:00:00Z", 2024),
        ("330106196001011236", 1960),  # a resident ID number: the birth year
        ("330106600101123", 1960),  # a first-generation (15-digit) one
        ("1990", None),
        ("1990-13-01", None),
        ("1990-02-30", None),
        ("1990-05-01x", None),
        ("13812345678", None),
        ("hello", None),
        (19900501, None),
        (1.5, None),
        (True, None),
        ([1990], None),
    ],
)
def test_year_only(value: Any, year: int | None) -> None:
    assert m("YEAR_ONLY").apply(value) == year


def test_generalize() -> None:
    by_width = m("GENERALIZE", width=10)
    assert [by_width.apply(v) for v in (35, "35", 39.5, 0, -1, " 40 ")] == [
        "30-39",
        "30-39",
        "30-39",
        "0-9",
        "-10--1",
        "40-49",
    ]
    for odd in ("abc", True, float("nan"), float("inf"), [35], {"a": 1}, ""):
        assert by_width.apply(odd) == "*"
    by_map = m("GENERALIZE", hierarchy={"西湖区": "杭州市", "1": "one"})
    assert by_map.apply("西湖区") == "杭州市"
    assert by_map.apply(1) == "one"
    assert by_map.apply("朝阳区") == "*"
    assert by_map.apply({"x": 1}) == "*"


def test_none_shows_the_value_and_show_is_an_alias() -> None:
    for kind in ("NONE", "show", " none "):
        value = {"nested": [1]}
        assert m(kind).apply(value) is value
    assert mask_kind("show_last_4") is MaskKind.SHOW_LAST_4


# --- plans -----------------------------------------------------------------------------------


def test_plan_masks_each_field_and_drops_the_rest() -> None:
    plan = parse_mask_spec(EXAMPLE_SPEC, salt=SALT)
    row = {
        "secret": "not granted",
        "dept": "数据资源局",
        "name": "张三",
        "id_number": "330106196001011236",
        "phone": "13812345678",
        "birth": "1960-01-01",
        "age": 64,
        "district": "西湖区",
        "note": "备注",
    }
    out = plan.apply_row(row)
    assert list(out) == list(EXAMPLE_SPEC)  # plan order, no "secret"
    assert out == {
        "name": "**",
        "id_number": "**************1236",
        "phone": FieldMask(MaskKind.HASH, salt=SALT).apply("13812345678"),
        "birth": 1960,
        "age": "60-69",
        "district": "杭州市",
        "note": None,
        "dept": "数据资源局",
    }
    assert plan.apply_row({}) == dict.fromkeys(EXAMPLE_SPEC)  # absent fields come out as None
    assert plan.apply_rows([row, row]) == [out, out]
    assert plan.fields == list(EXAMPLE_SPEC)
    assert parse_mask_spec({}).apply_rows([row]) == [{}]


def test_salt_stays_out_of_repr_and_spec() -> None:
    plan = parse_mask_spec(EXAMPLE_SPEC, salt=SALT)
    assert SALT.decode() not in repr(plan)
    assert plan.masks["phone"].to_spec() == "HASH"
    assert plan.masks["age"].to_spec() == {"kind": "GENERALIZE", "width": 10}
    assert parse_mask_spec({k: v.to_spec() for k, v in plan.masks.items()}, SALT) == plan


@pytest.mark.parametrize(
    ("spec", "salt", "words"),
    [
        ({"a": "BLUR"}, SALT, "unknown mask kind"),
        ({"a": 3}, SALT, "kind name"),
        ({"a": {"width": 3}}, SALT, "kind name"),
        ({"a": "HASH"}, None, "salt"),
        ({"a": "HASH"}, b"short-salt", "salt"),
        ({"a": "GENERALIZE"}, SALT, "hierarchy or width"),
        ({"a": {"kind": "GENERALIZE", "width": 10, "hierarchy": {"x": "y"}}}, SALT, "exactly one"),
        ({"a": {"kind": "GENERALIZE", "width": 1}}, SALT, "at least 2"),
        ({"a": {"kind": "GENERALIZE", "width": "10"}}, SALT, "integer"),
        ({"a": {"kind": "GENERALIZE", "width": True}}, SALT, "integer"),
        ({"a": {"kind": "GENERALIZE", "hierarchy": {}}}, SALT, "non-empty"),
        ({"a": {"kind": "GENERALIZE", "hierarchy": {"x": ["y"]}}}, SALT, "strings or numbers"),
        ({"a": {"kind": "MASK", "width": 10}}, SALT, "takes no"),
        ({"a": {"kind": "HASH", "salt": "mine-mine-mine-mine"}}, SALT, "unknown mask parameter"),
        ({"": "MASK"}, SALT, "field name"),
    ],
)
def test_bad_specs_are_invalid_input(spec: dict[str, Any], salt: bytes | None, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_mask_spec(spec, salt=salt)
    assert err.value.field == "mask"
    assert words in err.value.detail


def test_field_mask_validates_on_construction() -> None:
    with pytest.raises(InvalidInput, match="unknown mask kind") as err:
        FieldMask("BLUR")  # type: ignore[arg-type]
    assert err.value.field == "mask"
    with pytest.raises(InvalidInput, match="salt"):
        FieldMask(MaskKind.HASH, salt="x" * 15)
    assert FieldMask(MaskKind.HASH, salt="x" * 16).apply("a") != FieldMask(
        MaskKind.HASH, salt="y" * 16
    ).apply("a")
    long_salt = b"z" * 100  # over BLAKE2b's 64-byte key: hashed first
    assert len(FieldMask(MaskKind.HASH, salt=long_salt).apply("a")) == 32


def test_every_mask_kind_and_pii_kind_is_named_in_both_languages() -> None:
    en, zh = catalogue("en"), catalogue("zh-CN")
    en_keys = {k for k in en if k.startswith("pii.")}
    assert en_keys == {k for k in zh if k.startswith("pii.")}
    for kind in MaskKind:
        key = f"pii.mask.{kind.value.lower()}"
        assert key in en_keys and en[key] != zh[key]
    assert t("pii.mask.show_last_4", "zh-CN") == "仅显示后四位"
    assert t("pii.mask.hash", "zh-CN") == "加盐哈希"


def test_apply_rows_is_cheap() -> None:
    plan = MaskPlan({**parse_mask_spec(EXAMPLE_SPEC, salt=SALT).masks, "extra": m("MASK")})
    rows = [
        {
            "name": "欧阳娜娜",
            "id_number": f"3301061960010{i:05d}",
            "phone": f"138{i:08d}",
            "birth": "1960-01-01",
            "age": i % 90,
            "district": "西湖区",
            "note": "备注",
            "dept": "数据资源局",
            "extra": "浙江省杭州市西湖区文三路90号",
            "dropped": i,
        }
        for i in range(10_000)
    ]
    start = time.perf_counter()
    out = plan.apply_rows(rows)
    elapsed = time.perf_counter() - start
    assert len(out) == 10_000 and out[7]["phone"] != rows[7]["phone"]
    assert elapsed < 1.0, f"masking 10,000 x 10 took {elapsed:.2f} s"  # ~0.05 s measured
