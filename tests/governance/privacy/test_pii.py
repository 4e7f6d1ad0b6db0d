"""Detecting personal information: values, free text, columns, the grade they suggest."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

from citybrain.governance.privacy.masking import MaskKind
from citybrain.governance.privacy.pii import (
    GRADE_REASON,
    ColumnFinding,
    PiiKind,
    check_id_number,
    detect_value,
    name_hints,
    profile_columns,
    propose_grade,
    scan_text,
)
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import catalogue, t

AREAS = ("110101", "310104", "330106", "440305", "510107")


def with_check_digit(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


def make_id(area: str, born: dt.date, seq: int) -> str:
    return with_check_digit(f"{area}{born:%Y%m%d}{seq:03d}")


def make_card(prefix: str) -> str:
    return prefix + luhn.calc_check_digit(prefix)


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2015, 12, 31)))
    return make_id(draw(st.sampled_from(AREAS)), born, draw(st.integers(0, 999)))


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    digits = draw(st.text(st.sampled_from("0123456789"), min_size=11, max_size=17))
    return make_card(draw(st.sampled_from("3456")) + digits)


VALID_ID = make_id("330106", dt.date(1960, 1, 1), 123)  # region younger than its holder
CARD = make_card("622202123456789012")


# --- single values ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(id_numbers())
def test_valid_id_numbers_are_detected(number: str) -> None:
    assert detect_value(number) == {PiiKind.ID_NUMBER}
    assert detect_value(number.lower()) == {PiiKind.ID_NUMBER}
    assert detect_value(f" {number[:6]} {number[6:14]} {number[14:]} ") == {PiiKind.ID_NUMBER}
    assert check_id_number(number.lower(), "id") == number


@settings(max_examples=200, deadline=None)
@given(id_numbers(), st.integers(0, 17), st.integers(1, 9))
def test_one_changed_character_is_not_an_id_number(number: str, pos: int, shift: int) -> None:
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    old = alphabet.index(number[pos])
    changed = number[:pos] + alphabet[(old + shift) % len(alphabet)] + number[pos + 1 :]
    assert changed != number
    assert PiiKind.ID_NUMBER not in detect_value(changed)
    with pytest.raises(InvalidInput) as err:
        check_id_number(changed, "citizen.id_number")
    assert err.value.field == "citizen.id_number"
    assert changed not in err.value.detail  # never echoes the number


def test_check_id_number_messages() -> None:
    assert check_id_number(f"{VALID_ID[:6]} {VALID_ID[6:]}", "id") == VALID_ID
    bad_sum = VALID_ID[:-1] + ("1" if VALID_ID[-1] != "1" else "2")
    with pytest.raises(InvalidInput, match="bad checksum") as err:
        check_id_number(bad_sum, "id_number")
    assert err.value.field == "id_number"
    with pytest.raises(InvalidInput, match="17 digits"):
        check_id_number("33010619600101", "id_number")
    with pytest.raises(InvalidInput, match="birth date"):
        check_id_number(with_check_digit("33010619600230001"), "x")  # 30 February
    future = dt.date.today() + dt.timedelta(days=400)
    with pytest.raises(InvalidInput, match="birth date"):
        check_id_number(make_id("330106", future, 1), "x")
    with pytest.raises(InvalidInput, match="region"):
        check_id_number(make_id("999999", dt.date(1990, 1, 1), 1), "x")


def test_old_15_digit_id_numbers() -> None:
    assert detect_value("330106600101123") == {PiiKind.ID_NUMBER}
    assert PiiKind.ID_NUMBER not in detect_value("330106601301123")  # month 13
    assert PiiKind.ID_NUMBER not in detect_value("999999600101123")  # unknown region


@settings(max_examples=200, deadline=None)
@given(card_numbers())
def test_luhn_valid_card_numbers_are_detected(card: str) -> None:
    found = detect_value(card)
    assert found & {PiiKind.BANK_CARD, PiiKind.ID_NUMBER, PiiKind.MOBILE}
    if PiiKind.BANK_CARD in found:  # an ID number or mobile takes precedence
        wrong = card[:-1] + str((int(card[-1]) + 1) % 10)
        assert PiiKind.BANK_CARD not in detect_value(wrong)


def test_bank_cards() -> None:
    assert detect_value(CARD) == {PiiKind.BANK_CARD}
    assert detect_value(" ".join([CARD[i : i + 4] for i in range(0, len(CARD), 4)])) == {
        PiiKind.BANK_CARD
    }
    assert detect_value(int(CARD)) == {PiiKind.BANK_CARD}
    assert detect_value(CARD[:-1] + str((int(CARD[-1]) + 3) % 10)) == set()
    assert detect_value(make_card("123456789012")) == {PiiKind.BANK_CARD}  # 13 digits
    assert detect_value(make_card("1234567890123456789")) == set()  # 20 digits


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        "+86 138-1234-5678",
        "86 138 1234 5678",
        "0086-13812345678",
        "(+86) 19912345678",
        "138-1234-5678",
        13812345678,
    ],
)
def test_mobiles(value: Any) -> None:
    assert detect_value(value) == {PiiKind.MOBILE}


@pytest.mark.parametrize(
    "value", ["12812345678", "1381234567", "138123456789", "0571-88888888", "+1 138 1234 5678"]
)
def test_not_mobiles(value: str) -> None:
    assert PiiKind.MOBILE not in detect_value(value)


@pytest.mark.parametrize("value", ["浙A12345", "浙AD12345", "浙a·12345", "粤B 8888F", "京B1234学"])
def test_plates(value: str) -> None:
    assert detect_value(value) == {PiiKind.PLATE}


@pytest.mark.parametrize("value", ["浙I12345", "浙A1234", "AA12345", "浙A1234567", "浙江12345"])
def test_not_plates(value: str) -> None:
    assert PiiKind.PLATE not in detect_value(value)


@pytest.mark.parametrize("value", ["张三", "欧阳娜娜", "李小龙", "诸葛亮", " 王芳 ", "鲁迅"])
def test_names(value: str) -> None:
    assert detect_value(value) == {PiiKind.NAME}


@pytest.mark.parametrize(
    "value",
    [
        "北京市",
        "数据资源局",
        "高新区",
        "张",
        "张三丰丰",
        "Zhang San",
        "杭州",
        "文三路",
        "李家村",
        "欧阳",
    ],
)
def test_not_names(value: str) -> None:
    assert PiiKind.NAME not in detect_value(value)


@pytest.mark.parametrize(
    "value",
    [
        "浙江省杭州市西湖区文三路90号",
        "文三路90号",
        "上城区清波街道河坊街8弄3号",
        "湖州市安吉县天荒坪镇余村",
        "西湖区文一西路1号楼2单元301室",
    ],
)
def test_addresses(value: str) -> None:
    assert detect_value(value) == {PiiKind.ADDRESS}


@pytest.mark.parametrize("value", ["北京市", "杭州市数据资源局", "西湖", "浙江省杭州市", "路"])
def test_not_addresses(value: str) -> None:
    assert PiiKind.ADDRESS not in detect_value(value)


@pytest.mark.parametrize(
    ("value", "is_email"),
    [
        ("alice@example.com", True),
        ("first.last+tag@mail.example.com.cn", True),
        ("a@b", False),
        ("@example.com", False),
        ("alice@", False),
        ("alice at example.com", False),
    ],
)
def test_emails(value: str, is_email: bool) -> None:
    assert (detect_value(value) == {PiiKind.EMAIL}) is is_email


@pytest.mark.parametrize(
    "value", [None, "", "   ", True, 3.5, ["13812345678"], {"a": 1}, "x" * 300]
)
def test_non_values_are_nothing(value: Any) -> None:
    assert detect_value(value) == set()


def test_an_id_number_is_not_also_a_mobile_or_card() -> None:
    for seq in range(50):
        number = make_id("110101", dt.date(1990, 1, 1), seq)
        assert detect_value(number) == {PiiKind.ID_NUMBER}
        assert [m.kind for m in scan_text(f"证件{number}号")] == [PiiKind.ID_NUMBER]


# --- free text -------------------------------------------------------------------------------


def test_scan_text_finds_embedded_personal_information() -> None:
    text = (
        f"联系人张三，电话+86 138-1234-5678，身份证{VALID_ID}，卡号 {CARD[:4]} {CARD[4:]}，"
        "邮箱 a.b@x.cn，车牌浙AD12345。"
    )
    found = scan_text(text)
    assert [(m.kind, m.text) for m in found] == [
        (PiiKind.MOBILE, "+86 138-1234-5678"),
        (PiiKind.ID_NUMBER, VALID_ID),
        (PiiKind.BANK_CARD, f"{CARD[:4]} {CARD[4:]}"),
        (PiiKind.EMAIL, "a.b@x.cn"),
        (PiiKind.PLATE, "浙AD12345"),
    ]
    assert all(text[m.start : m.end] == m.text for m in found)


def test_scan_text_ignores_numbers_inside_longer_runs() -> None:
    bad_sum = VALID_ID[:-1] + ("1" if VALID_ID[-1] != "1" else "2")
    assert scan_text(f"订单 9{VALID_ID}9 与 ab13812345678 和 {bad_sum}x") == []
    assert scan_text("没有个人信息的一段话。") == []


# --- columns ---------------------------------------------------------------------------------

SURNAMES, GIVEN = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀英华"


def people(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(25_000))
        rows.append(
            {
                "姓名": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
                "id_number": make_id(rng.choice(AREAS), born, rng.randrange(1000)),
                "联系电话": f"1{rng.randint(3, 9)}{rng.randrange(10**9):09d}",
                "住址": f"浙江省杭州市西湖区文{rng.choice('一二三')}路{rng.randint(1, 999)}号",
                "plate": f"浙{rng.choice('ABC')}{rng.randrange(10**5):05d}",
                "card": make_card("622202" + f"{rng.randrange(10**12):012d}"),
                "email": f"user{i}@example.com",
                "order_no": f"{rng.randrange(10**18):018d}",
                "reading": rng.randrange(10**12),
                "note": rng.choice(["正常", "已处理", "待复核", ""]),
            }
        )
    return rows


def test_profile_flags_each_personal_column() -> None:
    findings = profile_columns(people(2000))
    got = {f.column: (f.kind, f.proposed_mask) for f in findings if f.flagged}
    assert got == {
        "姓名": (PiiKind.NAME, MaskKind.MASK),
        "id_number": (PiiKind.ID_NUMBER, MaskKind.SHOW_LAST_4),
        "联系电话": (PiiKind.MOBILE, MaskKind.SHOW_LAST_4),
        "住址": (PiiKind.ADDRESS, MaskKind.MASK),
        "plate": (PiiKind.PLATE, MaskKind.HASH),
        "card": (PiiKind.BANK_CARD, MaskKind.SHOW_LAST_4),
        "email": (PiiKind.EMAIL, MaskKind.HASH),
    }
    assert [f.column for f in findings] == [c for c in people(1)[0] if c in got]  # column order
    assert all(f.samples_checked == 1000 and f.share == 1.0 for f in findings)
    assert propose_grade(findings) == "important"


def test_profile_leaves_random_numbers_and_free_text_alone() -> None:
    rows = [
        {k: r[k] for k in ("order_no", "reading", "note")} | {"id": f"ORD-{i:012d}"}
        for i, r in enumerate(people(1000, seed=11))
    ]
    assert profile_columns(rows) == []
    assert propose_grade(profile_columns(rows)) == "general"


def test_profile_samples_only_the_first_rows() -> None:
    def rows() -> Iterator[dict[str, Any]]:
        yield from people(50)
        raise AssertionError("read past the sample")

    assert len(profile_columns(rows(), sample=50)) == 7
    assert profile_columns(people(10), sample=0) == []


def test_a_name_hint_lowers_the_bar_but_never_flags_alone() -> None:
    mixed = [{"x": "13812345678" if i % 5 < 2 else "0571-8888888"} for i in range(100)]
    assert profile_columns(mixed) == []  # 40 % mobiles, no hint
    [hinted] = profile_columns([{"联系电话": r["x"]} for r in mixed])
    assert (hinted.kind, hinted.flagged, hinted.name_hint, hinted.share) == (
        PiiKind.MOBILE,
        True,
        True,
        0.4,
    )
    [unsure] = profile_columns([{"身份证号": f"A{i:017d}"} for i in range(100)])
    assert (unsure.kind, unsure.flagged, unsure.proposed_mask, unsure.share) == (
        PiiKind.ID_NUMBER,
        False,
        None,
        0.0,
    )
    assert unsure.reason == "pii.reason.name_only"
    assert propose_grade([unsure]) == "general"


def test_the_name_breaks_ties_between_kinds() -> None:
    rows = [{"c": "张三" if i % 2 else "浙A12345"} for i in range(100)]
    assert profile_columns(rows) == []  # 50 % each: neither reaches 60 %
    [plate] = profile_columns([{"车牌": r["c"]} for r in rows])
    assert (plate.kind, plate.share) == (PiiKind.PLATE, 0.5)
    [name] = profile_columns([{"name": r["c"]} for r in rows])
    assert (name.kind, name.share) == (PiiKind.NAME, 0.5)


def test_empty_values_do_not_count() -> None:
    rows = [{"email": "a@example.com" if i % 4 == 0 else None} for i in range(100)]
    [finding] = profile_columns(rows)
    assert (finding.samples_checked, finding.share, finding.flagged) == (25, 1.0, True)


def finding(kind: PiiKind, flagged: bool = True) -> ColumnFinding:
    return ColumnFinding("c", kind, 1.0, 10, flagged, False, None, "pii.reason.values")


@pytest.mark.parametrize(
    ("kinds", "grade"),
    [
        ([], "general"),
        ([PiiKind.MOBILE], "general"),
        ([PiiKind.MOBILE, PiiKind.EMAIL, PiiKind.ADDRESS], "general"),
        ([PiiKind.NAME], "general"),
        ([PiiKind.NAME, PiiKind.MOBILE], "important"),
        ([PiiKind.NAME, PiiKind.ADDRESS], "important"),
        ([PiiKind.ID_NUMBER], "important"),
        ([PiiKind.BANK_CARD], "important"),
        ([PiiKind.PLATE], "important"),
    ],
)
def test_propose_grade(kinds: list[PiiKind], grade: str) -> None:
    assert propose_grade([finding(k) for k in kinds]) == grade
    assert propose_grade([finding(k, flagged=False) for k in kinds]) == "general"
    assert GRADE_REASON[grade] in catalogue("en")


def test_findings_explain_themselves_in_both_languages() -> None:
    [f] = profile_columns([{"身份证号": VALID_ID}] * 10)
    assert f.message("zh-CN") == (
        "抽样的 10 个值中有 100% 疑似居民身份证号码，与字段名一致；建议脱敏方式：仅显示后四位"
    )
    assert "Resident ID number" in f.message("en") and "Show last 4 only" in f.message("en")
    assert f.as_dict("en")["proposed_mask"] == "SHOW_LAST_4"
    for kind in PiiKind:
        assert t(f"pii.kind.{kind.value}", "en") != t(f"pii.kind.{kind.value}", "zh-CN")
    assert t("pii.kind.plate", "zh-CN") == "机动车号牌"


def test_name_hints() -> None:
    assert name_hints("userPhone") == {PiiKind.MOBILE}
    assert name_hints("身份证号码") == {PiiKind.ID_NUMBER}
    assert name_hints("Email") == {PiiKind.EMAIL}
    assert name_hints("name") == {PiiKind.NAME}
    assert name_hints("contact_name") == {PiiKind.NAME}
    assert name_hints("bank_card_no") == {PiiKind.BANK_CARD}
    for plain in ("dept_name", "hotel", "filename", "phonetic", "amount"):
        assert name_hints(plain) == set(), plain


def test_profiling_is_fast() -> None:
    rows = people(1000) * 10
    start = time.perf_counter()
    findings = profile_columns(rows)
    elapsed = time.perf_counter() - start
    assert len(findings) == 7
    assert elapsed < 1.0, f"profiling 10,000 x 10 took {elapsed:.2f} s"  # ~0.15 s measured


def test_rows_past_the_sample_are_not_read_lazily_either() -> None:
    counter = itertools.count()
    rows = ({"n": next(counter)} for _ in range(5000))
    profile_columns(rows, sample=100)
    assert next(counter) == 100
