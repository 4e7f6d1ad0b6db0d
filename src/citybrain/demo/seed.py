"""Fill a runtime with the demo city: organisations, catalogue, provider keys, two CSV batches,
then the last hours of sensor readings handed to the stream collector.

Idempotent: whatever exists already (by credit code, dataset id, key id, batch content hash)
is left alone and not ledgered again, so a second run adds nothing. Every write passes the
gate as the local operator (``Gate.system``), one ledger entry per governed action.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.demo.city import (
    DATASET_BY_SLUG,
    DATASETS,
    DISTRICTS,
    HOSPITAL_LEVELS,
    ORGS,
    SIGNING_ORGS,
)
from citybrain.demo.city import credit_code as make_code
from citybrain.demo.messages import MessageFactory
from citybrain.hub.catalogue import service as catalogue
from citybrain.hub.catalogue.api import register_gate_actions as catalogue_actions
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.schemas import DatasetIn
from citybrain.hub.ingest import service as ingest
from citybrain.hub.ingest.models import ProviderKey
from citybrain.hub.stream.batcher import StreamMessage
from citybrain.kernel.errors import NotFound
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.i18n import t
from citybrain.kernel.identity import service as identity
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime

Offer = Callable[[StreamMessage], bool]
BACKFILL_HOURS = 6.0
SILENT_FOR = timedelta(hours=2)  # the late provider's two silent car parks stopped this long ago
PURPOSE = "demo city seed"


@dataclass(frozen=True)
class DemoSummary:
    """What one run of ``seed_demo`` created and sent."""

    organisations_created: int
    datasets_created: int
    keys_registered: int
    batches_created: int
    messages_offered: int
    messages_refused: int

    @property
    def created(self) -> int:
        """Rows of catalogue and identity data created by this run (0 on a repeat run)."""
        return (
            self.organisations_created
            + self.datasets_created
            + self.keys_registered
            + self.batches_created
        )

    def describe(self, locale: str) -> str:
        """One line for the operator, in ``locale``."""
        return t(
            "demo.summary",
            locale,
            orgs=self.organisations_created,
            datasets=self.datasets_created,
            batches=self.batches_created,
            messages=self.messages_offered,
        )


@dataclass(frozen=True)
class DemoBatch:
    """A CSV upload of the demo: its dataset, bytes, encoding and whether it is signed."""

    dataset: str
    data: bytes
    encoding: str
    signed: bool
    source: str


_BRANDS = "西子 钱江 之江 湖畔 云栖 良渚 运河 天堂 东方 新安 富春 星火 恒远 华盛 汇通 青山"
_TRADES = (
    ("科技", "软件和信息技术服务业"),
    ("贸易", "批发和零售业"),
    ("制造", "制造业"),
    ("餐饮管理", "住宿和餐饮业"),
    ("商务咨询", "租赁和商务服务业"),
    ("生物医药", "科学研究和技术服务业"),
    ("建设工程", "建筑业"),
    ("物流", "交通运输、仓储和邮政业"),
)
_STATUS = ("存续",) * 14 + ("在业",) * 4 + ("迁出", "注销")


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def enterprise_csv(seed: int, count: int = 200) -> bytes:
    """The market supervision bureau's enterprise register (UTF-8 CSV), from the seed."""
    rng = random.Random(f"{seed}/enterprises")
    brands = _BRANDS.split()
    numbers = rng.sample(range(10_000_000, 99_999_999), count)
    rows: list[list[object]] = []
    for n in numbers:
        word, industry = rng.choice(_TRADES)
        established = date(1995, 1, 1) + timedelta(days=rng.randrange(29 * 365))
        rows.append(
            [
                make_code("91", n),
                f"杭州{rng.choice(brands)}{rng.choice(brands)}{word}有限公司",
                rng.choice(DISTRICTS).name,
                industry,
                rng.choice((10, 50, 100, 200, 500, 1000, 3000, 5000)),
                established.isoformat(),
                rng.choice(_STATUS),
            ]
        )
    header = [f["name"] for f in DATASET_BY_SLUG["enterprise-register"].schema["fields"]]
    return _csv(header, rows).encode("utf-8")


def hospital_csv(seed: int) -> bytes:
    """The health commission's list of medical institutions, GBK-encoded as many city systems
    still export it."""
    rng = random.Random(f"{seed}/hospitals")
    kinds = (("人民医院", 0), ("中医院", 1), ("妇幼保健院", 2), ("社区卫生服务中心", 4))
    rows: list[list[object]] = [
        ["330100-H001", "杭州市第一人民医院", "三级甲等", "上城区", 2100, 120.1742, 30.2573]
    ]
    for district in DISTRICTS:
        for kind, level in kinds:
            x0, y0, x1, y1 = district.bbox()
            while True:
                lon, lat = round(rng.uniform(x0, x1), 4), round(rng.uniform(y0, y1), 4)
                if district.contains(lon, lat):
                    break
            beds = rng.randint(40, 120) if level == 4 else rng.randint(300, 1500)
            code = f"{district.code}-H{len(rows) + 1:03d}"
            name = f"杭州市{district.name}{kind}"
            rows.append([code, name, HOSPITAL_LEVELS[level], district.name, beds, lon, lat])
    header = [f["name"] for f in DATASET_BY_SLUG["medical-institutions"].schema["fields"]]
    return _csv(header, rows).encode("gbk")


def demo_batches(seed: int) -> list[DemoBatch]:
    """The CSV uploads of the demo (one signed UTF-8, one unsigned GBK)."""
    return [
        DemoBatch("enterprise-register", enterprise_csv(seed), "utf-8", True, "demo:市场主体登记"),
        DemoBatch("medical-institutions", hospital_csv(seed), "gbk", False, "demo:医疗机构名录"),
    ]


def register_actions() -> None:
    """Declare the catalogue's and collection's gate actions (idempotent)."""
    catalogue_actions()
    for action, category in ingest.GATE_ACTIONS.items():
        register_action(action, category)


class _Seeder:
    def __init__(
        self, runtime: Runtime, seed: int, advance: Callable[[], None], since: datetime
    ) -> None:
        self.rt = runtime
        self.since = since  # the demo's datasets date from the start of the back-fill
        self.seed = seed
        self.city = runtime.settings.city_code
        self.request_id = f"demo-seed-{seed}"
        self.advance = advance
        self.factory = MessageFactory(seed)

    @contextmanager
    def _system(self, action: str, resource: Resource) -> Iterator[Session]:
        with self.rt.gate.system(
            SYSTEM_ACTOR, self.city, action, resource, request_id=self.request_id, purpose=PURPOSE
        ) as session:
            yield session

    def organisations(self) -> int:
        with self.rt.reader() as session:
            if (
                session.scalar(select(Organisation.id).where(Organisation.code == self.city))
                is None
            ):
                raise NotFound(
                    f"the city's root organisation {self.city} does not exist; bootstrap first",
                    field="city_code",
                )
            known = set(session.scalars(select(Organisation.code)))
        created = 0
        for org in ORGS:
            if org.code not in known:
                with self._system("org.create", Resource("Organisation", org.code, self.city)) as s:
                    identity.create_organisation(
                        s,
                        code=org.code,
                        name=org.name,
                        name_en=org.name_en,
                        kind=org.kind,
                        level=org.level,
                        parent_code=self.city,
                        clock=self.rt.clock,
                    )
                created += 1
            self.advance()
        return created

    def datasets(self) -> int:
        with self.rt.reader() as session:
            known = set(session.scalars(select(Dataset.slug)))
        created = 0
        for spec in DATASETS:
            if spec.slug not in known:
                body = DatasetIn.model_validate(spec.body())
                res = Resource("Dataset", spec.slug, spec.provider_code)
                with self._system("catalog.write", res) as session:
                    catalogue.create_dataset(session, body, SYSTEM_ACTOR, clock=lambda: self.since)
                created += 1
            self.advance()
        return created

    def keys(self) -> int:
        with self.rt.reader() as session:
            known = set(session.execute(select(ProviderKey.organisation, ProviderKey.key_id)))
        created = 0
        for org, key in sorted(self.factory.keys.items()):
            if (org, key.key_id) not in known:
                with self._system(
                    "provider_key.write", Resource("ProviderKey", key.key_id, org)
                ) as s:
                    ingest.register_provider_key(
                        s,
                        organisation=org,
                        public_key_b64=key.public_key_b64,
                        actor=SYSTEM_ACTOR,
                        clock=self.rt.clock,
                    )
                created += 1
            self.advance()
        return created

    def batches(self) -> int:
        created = 0
        for batch in demo_batches(self.seed):
            spec = DATASET_BY_SLUG[batch.dataset]
            org = spec.provider_code
            digest = ingest.content_digest(batch.data)
            with self.rt.reader() as session:
                stored = ingest.find_batch(session, batch.dataset, digest) is not None
            if not stored:
                key = self.factory.keys.get(org) if batch.signed else None
                with self._system("dataset.collect", Resource("Dataset", batch.dataset, org)) as s:
                    ingest.ingest_batch(
                        s,
                        dataset_id=batch.dataset,
                        schema=spec.schema,
                        organisation=org,
                        actor=SYSTEM_ACTOR,
                        data=batch.data,
                        fmt="csv",
                        source=batch.source,
                        signature_b64=key.sign(batch.data) if key else None,
                        encoding=batch.encoding,
                        ledger_seq=self.rt.ledger.size(s) - 1,
                        clock=self.rt.clock,
                    )
                created += 1
            self.advance()
        return created


def backfill_messages(
    seed: int, now: datetime, hours: float = BACKFILL_HOURS
) -> list[StreamMessage]:
    """The district outlines, then every reading of the last ``hours`` before ``now``."""
    factory = MessageFactory(seed)
    start = now - timedelta(hours=hours)
    messages = factory.districts(received_at=start)
    messages += factory.between(start, now, silent_from=now - SILENT_FOR)
    return messages


def _progress(console: Console | None, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
    )


def seed_demo(
    runtime: Runtime,
    *,
    seed: int,
    now: datetime,
    offer: Offer | None = None,
    progress: bool = True,
    hours: float = BACKFILL_HOURS,
    console: Console | None = None,
) -> DemoSummary:
    """Create the demo city in a bootstrapped runtime and back-fill ``hours`` of readings
    before ``now`` through ``offer`` (skipped when None). Returns what was created and sent;
    a second run creates nothing (re-sent messages keep their ids, so the collector drops them).
    """
    register_actions()
    locale = runtime.settings.default_locale
    steps = len(ORGS) + len(DATASETS) + len(SIGNING_ORGS) + len(demo_batches(seed))
    with _progress(console, progress) as bar:
        task = bar.add_task(t("demo.progress.catalogue", locale), total=steps)
        since = now - timedelta(hours=hours) if offer is not None else now
        seeder = _Seeder(runtime, seed, lambda: bar.advance(task), since)
        orgs = seeder.organisations()
        datasets = seeder.datasets()
        keys = seeder.keys()
        batches = seeder.batches()
        offered = refused = 0
        if offer is not None:
            messages = backfill_messages(seed, now, hours)
            fill = bar.add_task(
                t("demo.progress.backfill", locale, hours=f"{hours:g}"), total=len(messages)
            )
            for message in messages:
                if offer(message):
                    offered += 1
                else:
                    refused += 1
                bar.advance(fill)
    return DemoSummary(orgs, datasets, keys, batches, offered, refused)
