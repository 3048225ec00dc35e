"""Event bus benchmark: end to end through outbox -> bus -> consumer -> inbox commit.

Measures, per backend:
  * throughput: N events staged in the outbox (transactions of --tx-size events) while the relay
    and a consumer group run; events/s from the first commit to the last inbox commit;
  * latency: a steady --rate events/s for --duration s; CloudEvents time (staged) to the
    consumer's inbox commit, p50/p99.
Reference in the same run: Kafka's own producer perf tool (Java client, acks=all, idempotent,
same record size), i.e. what the broker on this machine takes with no Lifeboat in the way.
Throughput: every pipeline and the reference run --repeat times (default 3), alternating with the
order rotated every round (bench/fair.py), reported as median (quoted) and best. Latency: one
--duration window per pipeline (its p50/p99 already summarise thousands of events); the
reference's latency is its own, at full speed (queueing), not at --rate.

Kafka and PostgreSQL come from LIFEBOAT_KAFKA_BOOTSTRAP / LIFEBOAT_DATABASE_URL or are started
with the project's scripts. Not part of the test suite.

    uv run python bench/bus.py [--events 20000] [--rate 1000] [--duration 10] [--repeat 3]
    smoke run: --events 2000 --rate 200 --duration 3 --repeat 2 --backends embedded-sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fair

from lifeboat_shared.bus.consumer import ConsumerLoop
from lifeboat_shared.bus.embedded import EmbeddedBus
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.bus.kafka import KafkaBus
from lifeboat_shared.contracts.base import Message, register
from lifeboat_shared.contracts.envelope import Envelope, new_envelope
from lifeboat_shared.contracts.messages import RpoTickElapsed
from lifeboat_shared.contracts.messages.protection import ReplicationSpec, SiteRef
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.outbox import OutboxRelay, add_to_outbox
from lifeboat_shared.persistence.tables import messaging_metadata

GROUPS = [str(uuid.uuid4()) for _ in range(64)]
SPEC = ReplicationSpec(  # the tick carries its group's spec since the contract grew it
    project_id="bench",
    source=SiteRef(site_id="site-a", cloud="site-a"),
    target=SiteRef(site_id="site-b", cloud="site-b", data_endpoint="127.0.0.1:7000"),
    volumes=[str(uuid.uuid4())],
)


@register
class BenchTickElapsed(RpoTickElapsed):
    """An RPO tick on a topic of its own per run, so no run sees another's events."""

    topic: ClassVar[str] = "lifeboat.bench.unset"


def tick(i: int) -> BenchTickElapsed:
    return BenchTickElapsed(
        group_id=GROUPS[i % len(GROUPS)],
        project_id="bench",
        tick_seq=i,
        rpo_seconds=60,
        due_at=datetime.now(UTC),
        spec=SPEC,
    )


class MeasuredLoop(ConsumerLoop):
    """The real consumer loop; observes each event after its inbox transaction committed."""

    latencies: list[float]
    count: int

    def _observe(self, handled: Sequence[Envelope]) -> None:
        now = datetime.now(UTC)
        for envelope in handled:
            self.latencies.append((now - envelope.time).total_seconds())
        self.count += len(handled)


async def noop(_message: Message, _ctx: HandlerContext) -> None:
    return None


@dataclass
class Backend:
    name: str
    bus_kind: str  # "kafka" | "embedded"
    bus_target: str  # bootstrap servers, or the embedded log's database URL
    bus_schema: str | None
    producer_db_url: str
    producer_schema: str | None
    consumer_db_url: str
    consumer_schema: str | None

    def make_bus(self) -> EventBus:
        if self.bus_kind == "kafka":
            return KafkaBus(self.bus_target, partitions=6)
        return EmbeddedBus(Database(self.bus_target, schema=self.bus_schema), partitions=6)


async def prepare(url: str, schema: str | None) -> Database:
    db = Database(url, schema=schema, pool_size=10)
    await db.ensure_schema()
    async with db.engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
    return db


async def consume(backend: Backend, group: str, expect: int) -> None:
    """The consumer side, in its own process (as a real consuming service would be)."""
    db = await prepare(backend.consumer_db_url, backend.consumer_schema)
    bus = backend.make_bus()
    await bus.start()
    stop = asyncio.Event()
    loop = MeasuredLoop(
        bus=bus,
        db=db,
        group=group,
        topics=[BenchTickElapsed.topic],
        handlers={BenchTickElapsed: noop},
        source="/bench",
        batch_size=2000,
    )
    loop.latencies, loop.count = [], 0
    task = asyncio.create_task(loop.run(stop))
    await loop.running.wait()
    while not loop.consumer or not loop.consumer.assignment():  # joined the group
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    deadline = time.monotonic() + 300
    while loop.count < expect and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    finished = time.time()
    stop.set()
    await task
    await bus.stop()
    await db.dispose()
    print(
        json.dumps({"count": loop.count, "finished": finished, "latencies": loop.latencies}),
        flush=True,
    )


async def run_pipeline(
    backend: Backend, events: int, tx_size: int, rate: float | None, duration: float
) -> tuple[float, list[float]]:
    """Producer side in this process (stage in the outbox + relay), consumer in another."""
    total = events if rate is None else int(rate * duration)
    producer_db = await prepare(backend.producer_db_url, backend.producer_schema)
    bus = backend.make_bus()
    await bus.start()
    BenchTickElapsed.topic = f"lifeboat.bench.{uuid.uuid4().hex[:8]}"
    await bus.ensure_topics([BenchTickElapsed.topic, "lifeboat.deadletter.v1"])
    group = f"bench-{uuid.uuid4().hex[:8]}"
    consumer = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role",
            "consumer",
            "--group",
            group,
            "--expect",
            str(total),
            "--topic",
            BenchTickElapsed.topic,
            "--backend-json",
            json.dumps(asdict(backend)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert consumer.stdout is not None
    ready = await asyncio.to_thread(consumer.stdout.readline)
    if ready.strip() != "ready":
        raise RuntimeError(f"consumer failed to start: {ready!r}")
    stop = asyncio.Event()
    relay = OutboxRelay(producer_db, bus, batch_size=2000)
    relay_task = asyncio.create_task(relay.run(stop, producer_db.outbox_committed))

    async def stage(first: int, n: int) -> None:
        envelopes = [new_envelope(tick(first + j), source="/bench") for j in range(n)]
        async with producer_db.transaction() as session:
            await add_to_outbox(session, envelopes)

    started = time.time()
    t0 = time.perf_counter()
    if rate is None:
        for first in range(0, total, tx_size):
            await stage(first, min(tx_size, total - first))
    else:
        per_tick = max(1, int(rate / 100))  # a transaction every 10 ms
        for k, first in enumerate(range(0, total, per_tick)):
            delay = t0 + k * per_tick / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await stage(first, min(per_tick, total - first))
    line = await asyncio.to_thread(consumer.stdout.readline)
    consumer.wait(timeout=60)
    stop.set()
    await relay_task
    await bus.stop()
    await producer_db.dispose()
    result = json.loads(line)
    if result["count"] < total:
        raise RuntimeError(f"{backend.name}: only {result['count']}/{total} handled")
    return total / (result["finished"] - started), result["latencies"]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] * 1000 if len(values) > 10 else 0.0


def kafka_libs() -> list[Path]:
    cache = Path(os.environ.get("LIFEBOAT_CACHE", Path.home() / ".cache" / "lifeboat"))
    return sorted(cache.glob("kafka-*/libs"))


def kafka_reference(bootstrap: str, records: int, size: int) -> tuple[float, str]:
    """Kafka's ProducerPerformance: (records/s, its latency line)."""
    libs = kafka_libs()
    topic = f"bench-ref-{uuid.uuid4().hex[:6]}"
    cp = f"{libs[-1]}/*"
    subprocess.run(
        [
            "java",
            "-cp",
            cp,
            "org.apache.kafka.tools.TopicCommand",
            "--bootstrap-server",
            bootstrap,
            "--create",
            "--topic",
            topic,
            "--partitions",
            "6",
            "--replication-factor",
            "1",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    out = subprocess.run(
        [
            "java",
            "-cp",
            cp,
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(records),
            "--record-size",
            str(size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
            "enable.idempotence=true",
            "linger.ms=2",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(
        r"([\d.]+) records/sec.*?([\d.]+) ms avg latency.*?([\d.]+) ms 50th.*?([\d.]+) ms 99th",
        out.splitlines()[-1],
    )
    if not match:
        raise RuntimeError(f"ProducerPerformance: {out.splitlines()[-1]}")
    return float(match.group(1)), f"p50 {match.group(3)} ms, p99 {match.group(4)} ms"


def start(script: str, workdir: Path) -> str:
    out = subprocess.run(
        ["bash", str(ROOT / script), "start", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--tx-size", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--backends", default="kafka,embedded-sqlite,embedded-postgres")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs of every tool")
    parser.add_argument("--role", default="producer", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    parser.add_argument("--topic", default="", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "consumer":
        backend = Backend(**json.loads(args.backend_json))
        BenchTickElapsed.topic = args.topic
        asyncio.run(consume(backend, args.group, args.expect))
        return
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the servers started here are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="lbbench-"))
    os.chmod(work, 0o755)
    started: list[tuple[str, Path]] = []
    try:
        bootstrap = os.environ.get("LIFEBOAT_KAFKA_BOOTSTRAP")
        if not bootstrap:
            bootstrap = start("deploy/kafka/kafka-local.sh", work / "kafka")
            started.append(("deploy/kafka/kafka-local.sh", work / "kafka"))
        pg = os.environ.get("LIFEBOAT_DATABASE_URL")
        if not pg:
            pg = start("deploy/postgres/pg-local.sh", work / "pg")
            started.append(("deploy/postgres/pg-local.sh", work / "pg"))
        run = uuid.uuid4().hex[:6]
        sqlite = f"sqlite+aiosqlite:///{work}"
        backends = {
            "kafka": Backend(
                "outbox(PG) -> Kafka -> inbox(PG)",
                "kafka",
                bootstrap,
                None,
                pg,
                f"bp_{run}",
                pg,
                f"bc_{run}",
            ),
            "embedded-sqlite": Backend(
                "outbox(SQLite) -> embedded log(SQLite) -> inbox(SQLite)",
                "embedded",
                f"{sqlite}/bus.db",
                None,
                f"{sqlite}/producer.db",
                None,
                f"{sqlite}/consumer.db",
                None,
            ),
            "embedded-postgres": Backend(
                "outbox(PG) -> embedded log(PG) -> inbox(PG)",
                "embedded",
                pg,
                f"bb_{run}",
                pg,
                f"ep_{run}",
                pg,
                f"ec_{run}",
            ),
        }
        rows = []
        keys = args.backends.split(",")
        ref_latency: list[str] = []

        def throughput_trial(key: str) -> fair.Trial:
            def trial() -> float:
                eps, _ = asyncio.run(
                    run_pipeline(backends[key], args.events, args.tx_size, None, 0)
                )
                return float(args.events / eps)  # seconds: fair.Series works in seconds

            return trial

        def reference_trial() -> float:
            eps, lat = kafka_reference(bootstrap, args.events, 300)
            ref_latency.append(lat)
            return float(args.events / eps)

        trials: dict[str, fair.Trial] = {k: throughput_trial(k) for k in keys}
        if kafka_libs():
            trials["reference"] = reference_trial
        series = fair.alternate(trials, args.repeat)
        for key in keys:
            backend = backends[key]
            _, lat = asyncio.run(run_pipeline(backend, 0, args.tx_size, args.rate, args.duration))
            s = series[key]
            rows.append(
                (
                    backend.name,
                    f"{args.events / s.median:,.0f} ev/s (best {args.events / s.best:,.0f})",
                    f"{pct(lat, 50):.1f} ms",
                    f"{pct(lat, 99):.1f} ms",
                )
            )
            print(f"  done: {key}", file=sys.stderr, flush=True)
        reference = "n/a (Kafka jars not cached)"
        if "reference" in series:
            ref = series["reference"]
            reference = (
                f"{args.events / ref.median:,.0f} ev/s (best {args.events / ref.best:,.0f}); "
                f"{ref_latency[-1]}"
            )
    finally:
        for script, d in started:
            subprocess.run(["bash", str(ROOT / script), "stop", str(d)], check=False)
    print(
        f"\nEvent bus, end to end ({os.cpu_count()} cores; {args.events} events in transactions of "
        f"{args.tx_size} for throughput; steady {args.rate:.0f} ev/s for {args.duration:.0f} s "
        "for latency)\n"
    )
    header = (
        f"pipeline ({args.repeat} runs)",
        "throughput median (best)",
        f"p50 @ {args.rate:.0f}/s",
        f"p99 @ {args.rate:.0f}/s",
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print(
        f"\nreference: Kafka ProducerPerformance (Java, acks=all, idempotent, 300-byte records, "
        f"no database): {reference}"
    )


if __name__ == "__main__":
    main()
