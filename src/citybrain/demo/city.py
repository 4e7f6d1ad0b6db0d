"""The demo city, declared: organisations, districts, datasets and the sensor streams.

Everything here is data. Credit codes are valid GB 32100 codes (with a valid GB 11714
organisation code inside); districts are hand-made polygons around Hangzhou; each streamed
dataset's Table Schema lists exactly the attributes its sensors produce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stdnum.cn import uscc

REGION = "330100"  # 杭州市
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org9(base8: str) -> str:
    """A GB 11714 organisation code: eight digits and their check character."""
    total = sum(int(c) * w for c, w in zip(base8, _GB11714_WEIGHTS, strict=True))
    check = 11 - total % 11
    return base8 + ("X" if check == 10 else "0" if check == 11 else str(check))


def credit_code(authority: str, number: int, region: str = REGION) -> str:
    """A valid unified social credit code: authority+type (2), region (6), org code (9), check."""
    body = authority + region + _org9(f"{number:08d}")
    return body + uscc.calc_check_digit(body)


@dataclass(frozen=True)
class OrgSpec:
    """An organisation of the demo city (its parent is the city's root organisation)."""

    key: str
    code: str
    name: str
    name_en: str
    kind: str
    level: str


def _gov(key: str, number: int, name: str, name_en: str) -> OrgSpec:
    return OrgSpec(key, credit_code("11", number), name, name_en, "department", "department")


ORGS: tuple[OrgSpec, ...] = (
    _gov("traffic-police", 47120001, "杭州市公安局交通警察支队", "Hangzhou Traffic Police"),
    _gov("transport", 47120002, "杭州市交通运输局", "Hangzhou Transport Bureau"),
    _gov("health", 47120003, "杭州市卫生健康委员会", "Hangzhou Health Commission"),
    _gov("city-management", 47120004, "杭州市城市管理局", "Hangzhou City Management Bureau"),
    _gov("environment", 47120005, "杭州市生态环境局", "Hangzhou Ecology and Environment Bureau"),
    _gov("market", 47120006, "杭州市市场监督管理局", "Hangzhou Market Supervision Bureau"),
    _gov("data-bureau", 47120007, "杭州市数据资源管理局", "Hangzhou Data Resources Bureau"),
    _gov("public-security", 47120008, "杭州市公安局", "Hangzhou Public Security Bureau"),
    _gov("housing", 47120009, "杭州市住房保障和房产管理局", "Hangzhou Housing Bureau"),
    _gov("emergency", 47120010, "杭州市应急管理局", "Hangzhou Emergency Management Bureau"),
    _gov("education", 47120011, "杭州市教育局", "Hangzhou Education Bureau"),
    OrgSpec(
        "parking-operator",
        credit_code("91", 47120012),
        "杭州城泊智慧停车运营有限公司",
        "Hangzhou Chengbo Smart Parking Co., Ltd.",
        "enterprise",
        "unit",
    ),
    OrgSpec(
        "hospital",
        credit_code("12", 47120013),
        "杭州市第一人民医院",
        "Hangzhou First People's Hospital",
        "other",
        "unit",
    ),
)
ORG_BY_KEY: dict[str, OrgSpec] = {o.key: o for o in ORGS}

Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class District:
    """A district (行政区) with a simple hand-made outline, ``(lon, lat)`` vertices."""

    code: str
    name: str
    name_en: str
    ring: Ring

    def closed(self) -> list[list[float]]:
        """The outline as a closed GeoJSON linear ring."""
        return [[x, y] for x, y in (*self.ring, self.ring[0])]

    def bbox(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat)."""
        xs, ys = [p[0] for p in self.ring], [p[1] for p in self.ring]
        return min(xs), min(ys), max(xs), max(ys)

    def contains(self, lon: float, lat: float) -> bool:
        """Point in polygon (ray casting; points on an edge may fall either side)."""
        inside = False
        ring = self.ring
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
            if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside


# Neighbouring outlines share edges and never overlap (a sketch, not survey data).
DISTRICTS: tuple[District, ...] = (
    District(
        "330110",
        "余杭区",
        "Yuhang",
        ((120.00, 30.30), (120.10, 30.30), (120.12, 30.34), (120.10, 30.40), (120.00, 30.40)),
    ),
    District(
        "330105",
        "拱墅区",
        "Gongshu",
        (
            (120.10, 30.30),
            (120.22, 30.30),
            (120.24, 30.36),
            (120.18, 30.40),
            (120.10, 30.40),
            (120.12, 30.34),
        ),
    ),
    District(
        "330106",
        "西湖区",
        "Xihu",
        (
            (120.00, 30.18),
            (120.12, 30.18),
            (120.15, 30.22),
            (120.15, 30.30),
            (120.10, 30.30),
            (120.00, 30.30),
        ),
    ),
    District(
        "330102",
        "上城区",
        "Shangcheng",
        ((120.15, 30.22), (120.24, 30.22), (120.26, 30.27), (120.22, 30.30), (120.15, 30.30)),
    ),
    District(
        "330108",
        "滨江区",
        "Binjiang",
        ((120.12, 30.14), (120.24, 30.14), (120.24, 30.22), (120.15, 30.22), (120.12, 30.18)),
    ),
    District(
        "330109",
        "萧山区",
        "Xiaoshan",
        (
            (120.24, 30.10),
            (120.40, 30.10),
            (120.40, 30.26),
            (120.26, 30.27),
            (120.24, 30.22),
            (120.24, 30.14),
        ),
    ),
)
DISTRICT_NAMES = [d.name for d in DISTRICTS]


def district_at(lon: float, lat: float) -> District | None:
    """The district containing a point, if any."""
    return next((d for d in DISTRICTS if d.contains(lon, lat)), None)


def _f(name: str, ftype: str, title: str, **constraints: Any) -> dict[str, Any]:
    field: dict[str, Any] = {"name": name, "type": ftype, "title": title}
    pii = constraints.pop("pii", False)
    if constraints:
        field["constraints"] = constraints
    if pii:
        field["pii"] = True
        if pii == "sensitive":
            field["sensitive_pii"] = True
    return field


def _name() -> dict[str, Any]:
    return _f("name", "string", "名称 / Name", required=True)


def _observed() -> dict[str, Any]:
    return _f("dateObserved", "datetime", "观测时间 / Observed at", required=True)


def _location() -> dict[str, Any]:
    return _f("location", "object", "位置（GeoJSON）/ Location (GeoJSON)", required=True)


AIR_SCHEMA: dict[str, Any] = {
    "fields": [
        _name(),
        _observed(),
        _f("pm25", "number", "PM2.5（µg/m³）", required=True, minimum=0, maximum=1000),
        _f("pm10", "number", "PM10（µg/m³）", required=True, minimum=0, maximum=2000),
        _f("no2", "number", "二氧化氮 / NO₂（µg/m³）", minimum=0, maximum=1000),
        _f("o3", "number", "臭氧 / O₃（µg/m³）", minimum=0, maximum=1000),
        _f("temperature", "number", "气温 / Temperature（℃）", minimum=-30, maximum=50),
        _location(),
    ]
}
PARKING_SCHEMA: dict[str, Any] = {
    "fields": [
        _name(),
        _observed(),
        _f("totalSpotNumber", "integer", "总车位 / Total spots", required=True, minimum=0),
        _f("availableSpotNumber", "integer", "空余车位 / Free spots", required=True, minimum=0),
        _f("occupancy", "number", "占用率 / Occupancy (0–1)", minimum=0, maximum=1),
        _location(),
    ]
}
TRAFFIC_SCHEMA: dict[str, Any] = {
    "fields": [
        _name(),
        _observed(),
        _f("laneDirection", "string", "车道方向 / Lane direction", enum=["forward", "backward"]),
        _f("intensity", "integer", "车流量 / Vehicles", required=True, minimum=0, maximum=10000),
        _f("averageVehicleSpeed", "number", "平均车速 / Speed (km/h)", minimum=0, maximum=200),
        _f("occupancy", "number", "时间占有率 / Occupancy (0–1)", minimum=0, maximum=1),
        _f("congestionIndex", "number", "拥堵指数 / Congestion (0–10)", minimum=0, maximum=10),
        _location(),
    ]
}
# The live grid (demo/traffic.py): one schema for its four entity types, so only the fields
# every type has are required.
SIGNALS_SCHEMA: dict[str, Any] = {
    "fields": [
        _name(),
        _observed(),
        _f("controlledBy", "string", "控制器 / Controlled by"),
        _f("phase", "integer", "当前绿灯相位 / Green phase", minimum=0, maximum=32),
        _f("phaseState", "string", "信号灯状态 / Signal state", pattern=r"^[rRyYgGsuoO]+$"),
        _f("signalMode", "string", "灯色阶段 / Stage", enum=["green", "yellow", "all_red"]),
        _f("queue", "integer", "排队车辆 / Queued vehicles", minimum=0, maximum=2000),
        _f("refTrafficSignal", "string", "所属路口 / Junction"),
        _f("laneId", "integer", "车道号 / Lane", minimum=0, maximum=16),
        _f("intensity", "integer", "车道上车辆 / Vehicles", minimum=0, maximum=1000),
        _f("averageVehicleSpeed", "number", "平均车速 / Speed (km/h)", minimum=0, maximum=200),
        _f("congestionIndex", "number", "拥堵指数 / Congestion (0–10)", minimum=0, maximum=10),
        _f("travelTimeIndex", "number", "拥堵指数（行程时间比）/ Travel time index", minimum=1),
        _f("vehicles", "integer", "路网车辆 / Vehicles in the grid", minimum=0),
        _f("controlledIntersections", "integer", "受控路口 / Junctions controlled", minimum=0),
        _f("simulatedTime", "string", "仿真时刻 / Simulated time", pattern=r"^\d{2}:\d{2}:\d{2}$"),
        _f("run", "integer", "救护车序号 / Ambulance run", minimum=1),
        _f("travelTime", "number", "通行时间（秒）/ Travel time (s)", minimum=0),
        _f("expectedTravelTime", "number", "预计通行时间（秒）/ Expected (s)", minimum=0),
        _f("timeSavedEstimate", "number", "节省时间估计（秒）/ Time saved, estimate (s)"),
        _f("preemptedSignals", "integer", "绿波优先路口 / Signals pre-empted", minimum=0),
        _location(),
    ]
}
AREA_SCHEMA: dict[str, Any] = {
    "fields": [
        _name(),
        _f("alternateName", "string", "英文名 / English name"),
        _f("areaCode", "string", "行政区划代码 / Area code", required=True, pattern=r"^\d{6}$"),
        _location(),
    ]
}
ENTERPRISE_SCHEMA: dict[str, Any] = {
    "fields": [
        _f("credit_code", "string", "统一社会信用代码", required=True, pattern=r"^[0-9A-Z]{18}$"),
        _f("name", "string", "企业名称 / Name", required=True),
        _f("district", "string", "所在区 / District", required=True, enum=DISTRICT_NAMES),
        _f("industry", "string", "行业 / Industry", required=True),
        _f("registered_capital", "number", "注册资本（万元）", minimum=0),
        _f("established", "date", "成立日期 / Established"),
        _f("status", "string", "登记状态 / Status", enum=["存续", "在业", "迁出", "注销"]),
    ],
    "primaryKey": "credit_code",
}
HOSPITAL_LEVELS = ["三级甲等", "三级乙等", "二级甲等", "二级乙等", "一级"]
HOSPITAL_SCHEMA: dict[str, Any] = {
    "fields": [
        _f("code", "string", "机构编码 / Code", required=True),
        _f("name", "string", "机构名称 / Name", required=True),
        _f("level", "string", "等级 / Level", required=True, enum=HOSPITAL_LEVELS),
        _f("district", "string", "所在区 / District", required=True, enum=DISTRICT_NAMES),
        _f("beds", "integer", "床位数 / Beds", minimum=0, maximum=10000),
        _f("lon", "number", "经度 / Longitude", minimum=120.0, maximum=120.4),
        _f("lat", "number", "纬度 / Latitude", minimum=30.1, maximum=30.4),
    ],
    "primaryKey": "code",
}


@dataclass(frozen=True)
class DatasetSpec:
    """A catalogue entry of the demo city."""

    slug: str
    provider: str  # an OrgSpec key
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    theme: str
    keywords_zh: tuple[str, ...]
    keywords_en: tuple[str, ...]
    update_frequency: str
    schema: dict[str, Any]
    grade: str = "general"
    sharing: str = "unconditional"
    legal_basis: str = ""
    open_data: bool = True
    entity_type: str | None = None  # streamed as NGSI-LD entities of this type

    @property
    def provider_code(self) -> str:
        """The provider organisation's credit code."""
        return ORG_BY_KEY[self.provider].code

    def body(self) -> dict[str, Any]:
        """The registration body (``DatasetIn``; ``schema`` by its alias)."""
        return {
            "id": self.slug,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "description_zh": self.description_zh,
            "description_en": self.description_en,
            "provider_code": self.provider_code,
            "theme": self.theme,
            "keywords_zh": list(self.keywords_zh),
            "keywords_en": list(self.keywords_en),
            "update_frequency": self.update_frequency,
            "schema": self.schema,
            "grade": self.grade,
            "sharing": self.sharing,
            "legal_basis": self.legal_basis,
            "open_data": self.open_data,
        }

    def field_names(self) -> list[str]:
        """Names of the Table Schema's fields, in order."""
        return [f["name"] for f in self.schema["fields"]]


def _simple(*names: tuple[str, str]) -> dict[str, Any]:
    return {"fields": [_f(n, t, n) for n, t in names]}


_PIPL = (
    "《中华人民共和国个人信息保护法》第二十八条、《中华人民共和国户口登记条例》：户籍信息属敏感"
    "个人信息，仅限公安机关在法定职责范围内使用，不予共享。"
)

DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "traffic-flow", "traffic-police", "路段交通流量实时监测", "Real-time traffic flow",
        "主要路段线圈与视频检测器每两分钟上报的车流量、平均车速、时间占有率与拥堵指数。",
        "Vehicle counts, average speed, occupancy and congestion index from road detectors, "
        "every two minutes.",
        "transport", ("交通流量", "拥堵指数", "检测器"), ("traffic flow", "congestion", "detector"),
        "PT2M", TRAFFIC_SCHEMA, entity_type="TrafficFlowObserved",
    ),
    DatasetSpec(
        "traffic-signals", "traffic-police",
        "城市大脑信号控制实时状态", "CityBrain signal control, live",
        "上城区演示路网（SUMO 仿真，9 个信号路口）在城市大脑控制器下的实时状态：各路口相位与"
        "排队、进口车道检测器读数、路网拥堵指数（行程时间比），以及最近一辆救护车的绿波通行时间"
        "与节省时间估计。",
        "A simulated grid of nine signalised junctions in Shangcheng under CityBrain's controller "
        "(SUMO): phase and queue per junction, lane detector readings, the grid's congestion "
        "index (travel time index) and the last ambulance's green-wave travel time with an "
        "estimate of the time saved.",
        "transport", ("信号控制", "拥堵指数", "绿波"),
        ("traffic signals", "congestion", "green wave"),
        "PT1M", SIGNALS_SCHEMA, entity_type="TrafficSignal",
    ),
    DatasetSpec(
        "public-parking", "parking-operator", "公共停车场泊位实时状态", "Public car park occupancy",
        "城泊运营的公共停车场总车位、空余车位与占用率，承诺每五分钟更新。",
        "Total and free spaces and occupancy of public car parks; promised every five minutes.",
        "transport", ("停车", "泊位"), ("parking", "car park"),
        "PT5M", PARKING_SCHEMA, entity_type="OffStreetParking",
    ),
    DatasetSpec(
        "air-quality", "environment", "空气质量自动监测站实时数据", "Air quality stations",
        "国控与市控空气质量自动监测站的 PM2.5、PM10、二氧化氮、臭氧浓度与气温。",
        "PM2.5, PM10, NO₂, O₃ and temperature from the city's automatic monitoring stations.",
        "environment", ("空气质量", "PM2.5"), ("air quality", "PM2.5"),
        "PT5M", AIR_SCHEMA, entity_type="AirQualityObserved",
    ),
    DatasetSpec(
        "micro-air-quality", "city-management", "工地扬尘微型监测站", "Construction dust monitors",
        "城市管理部门在施工工地布设的微型空气质量监测站读数。",
        "Readings of the micro air-quality monitors on construction sites.",
        "environment", ("扬尘", "工地", "微站"), ("dust", "construction site"),
        "PT5M", AIR_SCHEMA, entity_type="AirQualityObserved",
    ),
    DatasetSpec(
        "administrative-districts", "data-bureau", "行政区划边界", "Administrative districts",
        "各区行政区划代码、名称与简化边界，供地图底图与空间统计使用。",
        "District codes, names and simplified outlines: the base layer of the city's maps.",
        "government-service", ("行政区划", "边界"), ("districts", "boundaries"),
        "P1Y", AREA_SCHEMA, entity_type="AdministrativeArea",
    ),
    DatasetSpec(
        "enterprise-register", "market", "市场主体登记信息", "Enterprise register",
        "在杭登记企业的统一社会信用代码、名称、所在区、行业、注册资本与登记状态。",
        "Credit code, name, district, industry, capital and status of registered enterprises.",
        "market", ("企业", "登记"), ("enterprises", "register"), "P1D", ENTERPRISE_SCHEMA,
    ),
    DatasetSpec(
        "medical-institutions", "health", "医疗机构名录", "Medical institutions",
        "全市医疗机构的名称、等级、所在区、床位数与坐标。",
        "Name, level, district, beds and coordinates of the city's medical institutions.",
        "health", ("医院", "医疗机构"), ("hospitals",), "P1M", HOSPITAL_SCHEMA,
    ),
    DatasetSpec(
        "household-registration", "public-security", "户籍人口信息", "Household registration",
        "户籍人口的身份号码、姓名、住址与户号。", "ID numbers, names and addresses of residents.",
        "public-safety", ("户籍",), ("household registration",), "P1D",
        {"fields": [
            _f("id_number", "string", "公民身份号码", required=True, pii="sensitive"),
            _f("name", "string", "姓名", required=True, pii=True),
            _f("address", "string", "住址", pii=True),
            _f("household_no", "string", "户号", pii=True),
        ]},
        grade="core", sharing="none", legal_basis=_PIPL, open_data=False,
    ),
    DatasetSpec(
        "bus-lines", "transport", "公交线路与站点", "Bus lines and stops",
        "公交线路编号、起讫站与站点序列。", "Bus line numbers, termini and stop sequences.",
        "transport", ("公交",), ("bus",), "P1D",
        _simple(("line", "string"), ("stop", "string"), ("seq", "integer")),
    ),
    DatasetSpec(
        "housing-projects", "housing", "保障性住房项目", "Affordable housing projects",
        "保障性租赁住房项目的位置、套数与入住情况。", "Location, units and occupancy of projects.",
        "social-security", ("保障房",), ("affordable housing",), "P1M",
        _simple(("project", "string"), ("district", "string"), ("units", "integer")),
        grade="important", sharing="conditional", open_data=False,
    ),
    DatasetSpec(
        "emergency-shelters", "emergency", "应急避难场所", "Emergency shelters",
        "应急避难场所名称、位置与可容纳人数。", "Names, places and capacity of shelters.",
        "public-safety", ("避难场所",), ("shelters",), "P1M",
        _simple(("name", "string"), ("district", "string"), ("capacity", "integer")),
    ),
    DatasetSpec(
        "schools", "education", "中小学校名录", "Primary and secondary schools",
        "全市中小学校名称、学段、所在区与学位数。", "Schools, their stage, district and places.",
        "education", ("学校",), ("schools",), "P1Y",
        _simple(("name", "string"), ("stage", "string"), ("district", "string")),
    ),
    DatasetSpec(
        "outpatient-waiting", "hospital", "门诊候诊人数", "Outpatient queues",
        "各科室实时候诊人数与预计等候时间。", "Patients waiting and expected wait per clinic.",
        "health", ("门诊", "候诊"), ("outpatients", "queue"), "PT15M",
        _simple(("clinic", "string"), ("waiting", "integer"), ("wait_min", "integer")),
        sharing="conditional", open_data=False,
    ),
)  # fmt: skip
DATASET_BY_SLUG: dict[str, DatasetSpec] = {d.slug: d for d in DATASETS}


@dataclass(frozen=True)
class StreamSpec:
    """A sensor network streaming one dataset.

    ``period_s`` is how often it really reports (the catalogue promises the dataset's
    ``update_frequency``); ``jitter_s`` delays each report by up to that much; ``silent``
    sensors stop reporting; a ``dirty`` stream sends out-of-range and incomplete readings;
    an unsigned stream sends no ``key_id``/``sig``.
    """

    dataset: str
    prefix: str
    count: int
    period_s: int
    per_message: int
    signed: bool = True
    dirty: bool = False
    silent: int = 0
    jitter_s: int = 0
    scale: tuple[float, float] = (0.7, 1.35)  # how busy or polluted its places are

    @property
    def spec(self) -> DatasetSpec:
        """The dataset this stream feeds."""
        return DATASET_BY_SLUG[self.dataset]


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("air-quality", "HZ-AQ", 8, 300, 4),
    # construction sites are dusty, and this network's data is dirty and unsigned
    StreamSpec(
        "micro-air-quality", "HZ-MAQ", 6, 300, 3, signed=False, dirty=True, scale=(1.3, 2.6)
    ),
    # declares PT5M, reports about every 20 minutes, and two car parks fall silent
    StreamSpec("public-parking", "HZ-P", 12, 1200, 4, silent=2, jitter_s=180),
    StreamSpec("traffic-flow", "HZ-TF", 14, 120, 5),
)
STREAM_BY_DATASET: dict[str, StreamSpec] = {s.dataset: s for s in STREAMS}
LATE_DATASET = "public-parking"
DIRTY_DATASET = "micro-air-quality"
SIGNING_ORGS: tuple[str, ...] = tuple(
    sorted({s.spec.provider for s in STREAMS if s.signed} | {"market", "data-bureau"})
)
