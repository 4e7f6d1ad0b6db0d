"""Detecting personal information (PIPL) in uploaded data, offline: checksums where the number
has one (resident ID, bank card), patterns, a surname list for names, address markers.

Whole values are matched (``detect_value``): an 11-digit mobile inside an 18-digit ID number is
not a mobile. Among digit kinds a value is at most one, in the order ID number > mobile > bank
card. ``scan_text`` finds embedded numbers, plates and e-mails in free text.

``profile_columns`` samples rows and flags a column when at least ``THRESHOLD`` (60 %) of its
non-empty sampled values match a kind, or ``HINTED_THRESHOLD`` (30 %) when the column name
suggests that kind too (``姓名``, ``phone`` ...). A name hint alone never flags: it is reported
unflagged, for a person to check. ``propose_grade`` turns findings into a GB/T 43697-2024 grade.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from itertools import islice
from typing import Any

from stdnum import luhn, numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from citybrain.governance.privacy.masking import MaskKind
from citybrain.hub.catalogue.vocab import GRADES
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import t

CORE, IMPORTANT, GENERAL = GRADES
THRESHOLD = 0.6
HINTED_THRESHOLD = 0.3
MAX_VALUE_CHARS = 200  # longer values are free text: use scan_text


class PiiKind(StrEnum):
    """A kind of personal information."""

    ID_NUMBER = "id_number"  # 居民身份证号码
    MOBILE = "mobile"  # 手机号码
    NAME = "name"  # 姓名
    ADDRESS = "address"  # 地址
    PLATE = "plate"  # 机动车号牌
    BANK_CARD = "bank_card"  # 银行卡号
    EMAIL = "email"  # 电子邮箱


# When several kinds qualify for a column and the name does not decide, the first wins.
PRIORITY = (
    PiiKind.ID_NUMBER,
    PiiKind.BANK_CARD,
    PiiKind.MOBILE,
    PiiKind.EMAIL,
    PiiKind.PLATE,
    PiiKind.NAME,
    PiiKind.ADDRESS,
)
PROPOSED_MASK = {
    PiiKind.ID_NUMBER: MaskKind.SHOW_LAST_4,
    PiiKind.MOBILE: MaskKind.SHOW_LAST_4,
    PiiKind.NAME: MaskKind.MASK,
    PiiKind.ADDRESS: MaskKind.MASK,  # GENERALIZE needs a hierarchy the detector cannot know
    PiiKind.PLATE: MaskKind.HASH,  # still joinable within one grant (trips of one vehicle)
    PiiKind.BANK_CARD: MaskKind.SHOW_LAST_4,
    PiiKind.EMAIL: MaskKind.HASH,
}
# Column-name hints. Chinese ones match anywhere in the name; English ones as whole words of it
# (``userPhone`` and ``user_phone`` -> ``phone``); ``EXACT_HINTS`` only as the whole name
# (``dept_name`` or ``road_name`` name no person).
HINTS: dict[PiiKind, tuple[str, ...]] = {
    PiiKind.ID_NUMBER: (
        *("身份证", "证件号码", "证件号", "id_number", "id_no", "idcard", "id_card"),
        *("citizen_id", "national_id"),
    ),
    PiiKind.MOBILE: ("手机", "电话", "联系方式", "mobile", "phone", "telephone", "cellphone"),
    PiiKind.NAME: (
        *("姓名", "名字", "联系人", "full_name", "fullname", "real_name", "person_name"),
        *("contact_name", "user_name", "owner_name", "patient_name", "applicant_name"),
    ),
    PiiKind.ADDRESS: ("地址", "住址", "住所", "address", "addr"),
    PiiKind.PLATE: ("车牌", "号牌", "plate", "plate_no", "license_plate"),
    PiiKind.BANK_CARD: ("银行卡", "卡号", "card", "bank_card", "card_no", "bank_account"),
    PiiKind.EMAIL: ("邮箱", "电子邮件", "email", "e_mail"),
}
EXACT_HINTS = {"name": PiiKind.NAME, "tel": PiiKind.MOBILE, "mail": PiiKind.EMAIL}

# The most common single-character surnames (about 120) and the common double surnames.
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蔡蒋余于杜叶"
    "程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付傅方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺"
    "毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文施洪牛樊葛邢安齐伍庞颜倪聂章鲁岳翟殷"
)
_DOUBLE = (
    "欧阳司马诸葛上官东方皇甫尉迟公孙慕容长孙司徒夏侯令狐宇文"
    "轩辕端木独孤南宫西门申屠澹台呼延万俟闻人赫连百里东郭第五司空钟离"
)
DOUBLE_SURNAMES = frozenset(_DOUBLE[i : i + 2] for i in range(0, len(_DOUBLE), 2))
# Last characters of words that look like names but are places, bodies or things.
_NOT_NAME_END = frozenset(
    "省市区县镇乡村路街道巷弄号楼室局厅委办院所站队部处馆校场店厂司行业费额元期年月日"
    "表单证码线车港湾桥湖岛州府社团组网库"
)
PROVINCE_ABBR = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_ADMIN_MARKERS = ("省", "自治区", "市", "区", "县", "镇", "乡", "街道")
_LOCAL_MARKERS = (
    "路",
    "街",
    "大道",
    "巷",
    "弄",
    "胡同",
    "村",
    "小区",
    "号",
    "室",
    "栋",
    "幢",
    "单元",
)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_ONLY = re.compile(f"[{_CJK}]{{2,4}}")
_HAS_CJK = re.compile(f"[{_CJK}]")
_DROP_SEPARATORS = str.maketrans("", "", " -\u00a0\u3000()（）")
_ID18 = re.compile(r"\d{17}[\dX]", re.A)
_ID15 = re.compile(r"\d{15}", re.A)
_MOBILE = re.compile(r"(?:\+?86|0086)?1[3-9]\d{9}", re.A)
_CARD = re.compile(r"\d{13,19}", re.A)
_PLATE = re.compile(
    f"[{PROVINCE_ABBR}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{5,6}}|[A-HJ-NP-Z0-9]{{4}}[挂学警])"
)
_PLATE_DROP = str.maketrans("", "", " ·•-.")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")

# For free text: embedded occurrences, not inside a longer run of digits or letters. Earlier
# kinds claim their span first.
_SCAN = (
    (PiiKind.ID_NUMBER, re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])", re.A)),
    (
        PiiKind.MOBILE,
        re.compile(
            r"(?<![0-9A-Za-z+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z])", re.A
        ),
    ),
    (PiiKind.BANK_CARD, re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])", re.A)),
    (
        PiiKind.EMAIL,
        re.compile(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
            r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
        ),
    ),
    (
        PiiKind.PLATE,
        re.compile(
            f"[{PROVINCE_ABBR}][A-HJ-NP-Z][·•]?(?:[A-HJ-NP-Z0-9]{{5,6}}|[A-HJ-NP-Z0-9]{{4}}[挂学警])"
            r"(?![A-Za-z0-9])"
        ),
    ),
)


@cache
def _known_region(code: str) -> bool:
    info = {k: v for _, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    return "county" in info


def _id_problem(compact: str) -> str | None:
    """Why ``compact`` is not an 18-digit resident ID number (None when it is one).

    Checksum, birth date (a real date, not in the future) and a known region code. Unlike
    ``stdnum.cn.ric.is_valid`` the region code need not have existed at birth: codes are given
    when the card is issued (330106, Xihu district, dates from 1983; its elder residents are
    real). A region unknown to python-stdnum's list is rejected."""
    if not _ID18.fullmatch(compact):
        return "format"
    if compact[-1] != ric.calc_check_digit(compact):
        return "checksum"
    try:
        born = ric.get_birth_date(compact)
    except ValidationError:
        return "birth"
    if born.year < 1870 or born > dt.date.today():
        return "birth"
    return None if _known_region(compact[:6]) else "region"


def _is_id_number(compact: str) -> bool:
    if len(compact) == 18:
        return _id_problem(compact) is None
    if len(compact) == 15 and _ID15.fullmatch(compact):  # first-generation card: no checksum
        body = compact[:6] + "19" + compact[6:]
        return _id_problem(body + ric.calc_check_digit(body + "0")) is None
    return False


def _is_name(text: str) -> bool:
    if not 2 <= len(text) <= 4 or not _CJK_ONLY.fullmatch(text) or text[-1] in _NOT_NAME_END:
        return False
    if text[:2] in DOUBLE_SURNAMES and len(text) >= 3:
        return True
    return text[0] in SURNAMES and len(text) <= 3


def _is_address(text: str) -> bool:
    if len(text) < 5 or not _HAS_CJK.search(text):
        return False
    rest = text.replace("街道", "")
    admin = sum(marker in text for marker in _ADMIN_MARKERS)
    local = sum(marker in rest for marker in _LOCAL_MARKERS)
    return local >= 2 or (local >= 1 and admin >= 1)


def detect_value(value: Any) -> set[PiiKind]:
    """The kinds of personal information ``value`` is, as a whole (usually zero or one)."""
    if value.__class__ is str:
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        return set()
    if not text or len(text) > MAX_VALUE_CHARS:
        return set()
    found: set[PiiKind] = set()
    if "@" in text:
        if _EMAIL.fullmatch(text):
            found.add(PiiKind.EMAIL)
        return found
    compact = text.translate(_DROP_SEPARATORS).upper()
    if compact.isascii() and (compact.lstrip("+").isdigit() or _ID18.fullmatch(compact)):
        if _is_id_number(compact):
            found.add(PiiKind.ID_NUMBER)
        elif _MOBILE.fullmatch(compact):
            found.add(PiiKind.MOBILE)
        elif _CARD.fullmatch(compact) and luhn.is_valid(compact):
            found.add(PiiKind.BANK_CARD)
        return found
    if _HAS_CJK.search(text):
        if text[0] in PROVINCE_ABBR and _PLATE.fullmatch(text.translate(_PLATE_DROP).upper()):
            found.add(PiiKind.PLATE)
        elif _is_name(text):
            found.add(PiiKind.NAME)
        elif _is_address(text):
            found.add(PiiKind.ADDRESS)
    return found


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """Personal information found inside free text: ``text[start:end]``."""

    kind: PiiKind
    start: int
    end: int
    text: str


def _confirm(kind: PiiKind, found: str) -> bool:
    compact = found.translate(_DROP_SEPARATORS).upper()
    if kind is PiiKind.ID_NUMBER:
        return _is_id_number(compact)
    if kind is PiiKind.BANK_CARD:
        return luhn.is_valid(compact) and not _is_id_number(compact)
    return True  # the pattern is the whole test


def scan_text(text: str) -> list[PiiMatch]:
    """ID numbers, mobiles, bank cards, e-mails and plates embedded in ``text``, checked like
    whole values (checksums, Luhn), not overlapping, in order of position. Names and addresses
    are not looked for in free text: without a column to judge, they are too easily confused."""
    matches: list[PiiMatch] = []
    for kind, pattern in _SCAN:
        for m in pattern.finditer(text):
            start, end = m.span()
            if any(start < o.end and o.start < end for o in matches):
                continue
            if _confirm(kind, m.group()):
                matches.append(PiiMatch(kind, start, end, m.group()))
    return sorted(matches, key=lambda m: m.start)


_WORDS = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def name_hints(column: str) -> set[PiiKind]:
    """The kinds a column's name suggests (``身份证号`` -> ID number, ``userPhone`` -> mobile)."""
    words = _WORDS.findall(_CAMEL.sub("_", column).lower())
    joined = "_" + "_".join(words) + "_"
    kinds = set()
    if len(words) == 1 and words[0] in EXACT_HINTS:
        kinds.add(EXACT_HINTS[words[0]])
    for kind, hints in HINTS.items():
        if any(f"_{h}_" in joined if h.isascii() else h in column for h in hints):
            kinds.add(kind)
    return kinds


@dataclass(frozen=True, slots=True)
class ColumnFinding:
    """What profiling says of one column. ``flagged`` columns hold ``kind`` (and get
    ``proposed_mask``); unflagged findings are name hints the values did not bear out."""

    column: str
    kind: PiiKind
    share: float
    samples_checked: int
    flagged: bool
    name_hint: bool
    proposed_mask: MaskKind | None
    reason: str  # message key in the pii catalogue

    def message(self, locale: str = "zh-CN") -> str:
        """The reason, in ``locale``."""
        return t(
            self.reason,
            locale,
            kind=t(f"pii.kind.{self.kind.value}", locale),
            percent=round(self.share * 100),
            checked=self.samples_checked,
            mask=t(f"pii.mask.{self.proposed_mask.value.lower()}", locale)
            if self.proposed_mask
            else "",
        )

    def as_dict(self, locale: str = "zh-CN") -> dict[str, Any]:
        """A JSON-ready view, with the reason in ``locale``."""
        return {
            "column": self.column,
            "kind": self.kind.value,
            "share": round(self.share, 4),
            "samples_checked": self.samples_checked,
            "flagged": self.flagged,
            "name_hint": self.name_hint,
            "proposed_mask": self.proposed_mask.value if self.proposed_mask else None,
            "reason": self.message(locale),
        }


def _empty(value: Any) -> bool:
    return value is None or (value.__class__ is str and not value.strip())


def profile_columns(
    rows: Iterable[Mapping[str, Any]],
    sample: int = 1000,
    *,
    threshold: float = THRESHOLD,
    hinted_threshold: float = HINTED_THRESHOLD,
) -> list[ColumnFinding]:
    """Profile the first ``sample`` rows: one finding per column that holds (or whose name
    suggests) personal information, in column order. Among kinds that qualify, the one the
    column name suggests wins, then the larger share, then ``PRIORITY``."""
    checked: dict[str, int] = {}
    counts: dict[str, dict[PiiKind, int]] = {}
    for row in islice(rows, max(sample, 0)):
        for column, value in row.items():
            if column not in checked:
                checked[column], counts[column] = 0, {}
            if _empty(value):
                continue
            checked[column] += 1
            per_kind = counts[column]
            for kind in detect_value(value):
                per_kind[kind] = per_kind.get(kind, 0) + 1
    findings = []
    for column, n in checked.items():
        finding = _judge(column, n, counts[column], threshold, hinted_threshold)
        if finding is not None:
            findings.append(finding)
    return findings


def _judge(
    column: str, n: int, counts: dict[PiiKind, int], threshold: float, hinted: float
) -> ColumnFinding | None:
    hints = name_hints(str(column))
    shares = {kind: count / n for kind, count in counts.items()} if n else {}
    qualified = [
        kind
        for kind, share in shares.items()
        if share >= threshold or (kind in hints and share >= hinted)
    ]
    if qualified:
        kind = min(qualified, key=lambda k: (k not in hints, -shares[k], PRIORITY.index(k)))
        hinted_kind = kind in hints
        reason = "pii.reason.values_and_name" if hinted_kind else "pii.reason.values"
        return ColumnFinding(
            str(column), kind, shares[kind], n, True, hinted_kind, PROPOSED_MASK[kind], reason
        )
    if hints:
        kind = min(hints, key=lambda k: (-shares.get(k, 0.0), PRIORITY.index(k)))
        return ColumnFinding(
            str(column), kind, shares.get(kind, 0.0), n, False, True, None, "pii.reason.name_only"
        )
    return None


GRADE_REASON = {IMPORTANT: "pii.grade.important", GENERAL: "pii.grade.general"}


def propose_grade(findings: Iterable[ColumnFinding]) -> str:
    """A GB/T 43697-2024 grade for a dataset with these findings (flagged ones count).

    ``important`` (重要数据) when it holds sensitive personal information (PIPL Art28): resident
    ID numbers, bank cards, or plates (vehicle whereabouts); or names together with a way to
    reach the person (mobile, e-mail, address). Otherwise ``general`` (一般数据): contact details
    alone, names alone or no personal information at all - each such column is still masked.
    ``core`` (核心数据) is designated by the authorities' catalogue, never inferred from columns.
    """
    kinds = {f.kind for f in findings if f.flagged}
    if kinds & {PiiKind.ID_NUMBER, PiiKind.BANK_CARD, PiiKind.PLATE}:
        return IMPORTANT
    if PiiKind.NAME in kinds and kinds & {PiiKind.MOBILE, PiiKind.EMAIL, PiiKind.ADDRESS}:
        return IMPORTANT
    return GENERAL


_ID_MESSAGES = {
    "format": "a resident ID number is 17 digits and a check digit (0-9 or X)",
    "checksum": "bad checksum: the last character of the resident ID number does not match",
    "birth": "the birth date in the resident ID number is not a valid date",
    "region": "the region code of the resident ID number is unknown",
}


def check_id_number(value: str, field: str) -> str:
    """A resident ID number, compacted (spaces dropped, upper-case ``X``), or InvalidInput
    naming ``field`` (bad format, checksum, birth date or region). Messages never repeat the
    number."""
    compact = str(value).translate(_DROP_SEPARATORS).upper()
    problem = _id_problem(compact)
    if problem is not None:
        raise InvalidInput(_ID_MESSAGES[problem], field=field)
    return compact
