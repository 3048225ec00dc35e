"""Every event delivered twice, 0 duplicate side effects: a replicator and an orchestrator
process on Kafka + PostgreSQL over cloudsim, both with ``LIFEBOAT_CHAOS_PUBLISH_TWICE`` (their
outbox relays publish every event twice), and every event the test plays (site registrations,
RPO ticks, a ``StartExecution`` command) published twice too: site registrations at once, as a
relay with the setting does, a tick's copy after its cycle is over and the command's copy after
the failover finished (a late duplicate finds the state already moved on).

The replicator takes two CPs of a 3-VM app (one tick each), the orchestrator learns them (each
``ConsistencyPointCreated`` arrives twice) and fails the app over on one start command (which
arrives twice). Evidence that the duplicates arrived: every event id is read twice from Kafka,
and each consumer group's metrics count a dropped duplicate for each event it handled. Side
effects counted: one cycle and one CP per tick, one snapshot per volume per CP at the DR site,
one CP per tick in the orchestrator's catalog, one execution, every step succeeded once, one
server, volume and port per VM at the DR site.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from cloudsim.testing import running_sites
from lifeboat_billing.adapters.orm import usage_ledger
from lifeboat_billing.bootstrap import build as build_billing
from lifeboat_orchestrator.adapters.orm import consistency_points as orchestrator_cps
from lifeboat_orchestrator.bootstrap import build as build_orchestrator
from lifeboat_replicator.bootstrap import build as build_replicator
from lifeboat_shared.bus.factory import make_bus
from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.bus.records import Record
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.cloud.tags import META_OP
from lifeboat_shared.contracts import encode_envelope, new_envelope, topics
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.envelope import Envelope, decode_record
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    ExecutionStepProgressed,
    ReplicationSpec,
    RpoTickElapsed,
    SiteRef,
    StartExecution,
    UsageRecorded,
)
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.tables import inbox, outbox
from lifeboat_shared.settings import LifeboatSettings
from tests.integration.orchestrator.harness import (
    AUTH,
    create_plan,
    make_app,
    orchestrator_env,
    plan_body,
    site_events,
    wait_up,
)
from tests.integration.replication.harness import (
    free_port,
    fresh_database,
    receiver_process,
    write_random,
)
from tests.support.faults import record_fault
from tests.support.services import ROOT

pytestmark = [
    pytest.mark.faults,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.timeout(240),
]

A, B = "site-a", "site-b"
TIERS = {"db": 1, "web": 2}
VMS = sum(TIERS.values())
TICKS = 2
CHAOS = {"LIFEBOAT_CHAOS_PUBLISH_TWICE": "true"}
SERVICES = ("replicator", "orchestrator", "billing")


@contextmanager
def service_process(
    service: str, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``lifeboat-<service> serve`` as its own process, stopped (SIGTERM, then SIGKILL) whatever
    happens."""
    proc = subprocess.Popen(
        # (not ``-m``: not every service's cli module runs main() when run as a script)
        [
            sys.executable,
            "-c",
            f"from lifeboat_{service}.entrypoints.cli import main; main()",
            "serve",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(log, "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def until(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    """Poll an async check until it returns something truthy (a state, never a time)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {what}"
        await asyncio.sleep(0.2)


async def rows(database: str, schema: str, query: sa.Select[Any]) -> list[Any]:
    db = Database(database, schema=schema)
    try:
        async with db.read() as s:
            return list((await s.execute(query)).all())
    finally:
        await db.dispose()


async def handled_counts(client: httpx.AsyncClient, base: str) -> Counter[tuple[str, str]]:
    """(event type, outcome) -> count, from the service's Prometheus metrics."""
    text = (await client.get(f"{base}/metrics")).text
    out: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "lifeboat_events_handled_total":
                out[(sample.labels["type"], sample.labels["outcome"])] += int(sample.value)
    return out


async def test_every_event_delivered_twice_no_duplicate_side_effects(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    began = time.monotonic()
    database = await fresh_database(postgres_url)
    bus = make_bus(LifeboatSettings(bus="kafka", kafka_bootstrap=kafka_bootstrap), client_id="t")
    rx_dir = tmp_path / "rx"
    rx_dir.mkdir()
    dirs = {name: tmp_path / name for name in SERVICES}
    for d in dirs.values():
        d.mkdir()
    ports = {name: free_port() for name in SERVICES}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    played: list[Record] = []  # what the test published (each record twice)

    async def play(messages: list[Message], *, copy_now: bool = True) -> list[Record]:
        """Publish events; their copies now, or later through ``bus.publish(records)``."""
        records = [encode_envelope(new_envelope(m, source="/tests")) for m in messages]
        played.extend(records)
        await bus.publish(records + records if copy_now else records)
        return records

    with (
        running_sites([A, B], tmp_path / "sites") as sites,
        receiver_process(rx_dir, sites.clouds_yaml) as (_rx, rx_addr),
    ):
        driver = CloudDriver(
            [SiteConfig(name=s, cloud=s, clouds_yaml=sites.clouds_yaml) for s in (A, B)]
        )
        # the orchestrator's env (Kafka, PostgreSQL, ...) for all three, each its own port/dir
        envs = {
            name: orchestrator_env(
                dirs[name], database, kafka_bootstrap, sites.clouds_yaml, ports[name], **CHAOS
            )
            for name in SERVICES
        }
        envs["replicator"].update(
            LIFEBOAT_REPLICATOR_HTTP_PORT=str(ports["replicator"]),
            LIFEBOAT_REPLICATOR_CLOUDS_YAML=str(sites.clouds_yaml),
            LIFEBOAT_REPLICATOR_RUNNER_INTERVAL_SECONDS="0.1",
            LIFEBOAT_REPLICATOR_LINK_PSK_FILE=str(rx_dir / "link.psk"),  # the receiver's key
        )
        envs["billing"].update(LIFEBOAT_BILLING_HTTP_PORT=str(ports["billing"]))
        client = httpx.AsyncClient(timeout=30, headers=AUTH)
        try:
            source, dr = await driver.project(A), await driver.project(B)
            await bus.start()
            await bus.ensure_topics(topics.ALL_TOPICS)
            with (
                service_process(
                    "replicator", envs["replicator"], dirs["replicator"] / "log"
                ) as rep,
                service_process(
                    "orchestrator", envs["orchestrator"], dirs["orchestrator"] / "log"
                ) as orch,
                service_process("billing", envs["billing"], dirs["billing"] / "log") as bill,
            ):
                app = await make_app(source, TIERS, prefix="dup")  # while the services start
                made = time.monotonic() - began
                for name, proc in (("replicator", rep), ("orchestrator", orch), ("billing", bill)):
                    try:
                        await wait_up(base[name], proc, timeout=90)
                    except AssertionError as exc:
                        log = (dirs[name] / "log").read_text(errors="replace")[-3000:]
                        raise AssertionError(f"{name}: {exc}\n{log}") from exc
                started = time.monotonic() - began
                await play(site_events(sites))

                # --- the replicator: one cycle and one CP per tick --------------------------
                spec = ReplicationSpec(
                    project_id="demo",
                    source=SiteRef(site_id=A, cloud=A),
                    target=SiteRef(site_id=B, cloud=B, data_endpoint=rx_addr),
                    servers=app.servers,
                )
                with sites.sites[A].admin() as admin:
                    paths = [admin.get(f"/volumes/{v}").json()["path"] for v in app.volumes]

                async def replicator_get(path: str) -> list[dict[str, Any]]:
                    r = await client.get(
                        f"{base['replicator']}{path}", params={"group_id": app.group}
                    )
                    r.raise_for_status()
                    return list(r.json())

                for tick in range(1, TICKS + 1):
                    for path in paths:
                        write_random(path, 2, offset_mib=(tick - 1) * 4)
                    tick_records = await play(
                        [
                            RpoTickElapsed(
                                group_id=app.group,
                                project_id="demo",
                                tick_seq=tick,
                                rpo_seconds=60,
                                due_at=datetime.now(UTC),
                                spec=spec,
                            )
                        ],
                        copy_now=False,
                    )

                    async def cp_done(n: int = tick) -> bool:
                        cycles = await replicator_get("/v1/replication-cycles")
                        failed = [c for c in cycles if c["status"] == "failed"]
                        assert not failed, failed
                        settled = all(c["status"] == "succeeded" for c in cycles)
                        return settled and len(await replicator_get("/v1/consistency-points")) >= n

                    await until(cp_done, f"CP of tick {tick}")
                    await bus.publish(tick_records)  # its copy, once its cycle is over
                replicated = time.monotonic() - began

                # --- the orchestrator: one execution per start command ----------------------
                plan = await create_plan(
                    client, base["orchestrator"], plan_body(app, A, [B], "dup")
                )

                async def ready() -> bool:
                    r = await client.post(f"{base['orchestrator']}/v1/plans/{plan['id']}/readiness")
                    return bool(r.json()["readiness"]["ready"])

                await until(ready, "plan ready (the CPs reached the orchestrator)")
                execution_id = f"dup-{uuid.uuid4().hex[:12]}"
                start_records = await play(
                    [
                        StartExecution(
                            execution_id=execution_id,
                            plan_id=plan["id"],
                            execution_kind="failover",
                            requested_by="tests",
                        )
                    ],
                    copy_now=False,
                )

                async def finished() -> dict[str, Any] | None:
                    r = await client.get(f"{base['orchestrator']}/v1/executions/{execution_id}")
                    if r.status_code == 404:
                        return None
                    e = dict(r.json())
                    return e if e["state"] != "running" else None

                execution = await until(finished, "failover finished", timeout=150)
                failed_over = time.monotonic() - began
                await bus.publish(start_records)  # the command again, after the failover

                # --- the duplicates arrived ------------------------------------------------
                async def relayed() -> bool:  # every staged event sent, with its copy acked
                    unsent = sa.select(outbox.c.id).where(outbox.c.sent_at.is_(None))
                    return all([not await rows(database, s, unsent) for s in SERVICES])

                await until(relayed, "both outboxes relayed")
                staged = {
                    s: [r.event_id for r in await rows(database, s, sa.select(outbox.c.event_id))]
                    for s in SERVICES
                }
                ours = {_event_id(r) for r in played} | {i for ids in staged.values() for i in ids}
                seen, copies = await read_back(bus, ours)
                consumers = {
                    "replicator": build_replicator(),
                    "orchestrator": build_orchestrator(),
                    "billing": build_billing(),
                }
                # Per consumer group: our events on its topics that it has a handler for.
                expected: dict[str, Counter[str]] = {}
                for name, spec_ in consumers.items():
                    expected[name] = Counter(
                        env.type
                        for topic, env in seen.values()
                        if topic in spec_.consumes and type(env.message) in spec_.handlers
                    )

                async def duplicates_dropped() -> dict[str, Counter[tuple[str, str]]] | None:
                    counts = {n: await handled_counts(client, base[n]) for n in SERVICES}
                    done = all(
                        counts[n][(t, "duplicate")] >= want
                        for n in SERVICES
                        for t, want in expected[n].items()
                    )
                    return counts if done else None

                metrics = await until(duplicates_dropped, "every duplicate counted as dropped")
                handled = {
                    s: {
                        r.event_id
                        for r in await rows(
                            database,
                            s,
                            sa.select(inbox.c.event_id).where(
                                inbox.c.consumer_group == f"lifeboat-{s}"
                            ),
                        )
                    }
                    for s in SERVICES
                }
                # Read once every late copy was dropped: an effect of one would show now.
                cycles = await replicator_get("/v1/replication-cycles")
                rep_cps = await replicator_get("/v1/consistency-points")
                dr_snapshots = await dr.block_storage.list_snapshots()
                catalog = await rows(
                    database,
                    "orchestrator",
                    sa.select(orchestrator_cps.c.id).where(
                        orchestrator_cps.c.group_id == app.group
                    ),
                )
                ledger = await rows(  # (the billing group also reads older tests' usage)
                    database,
                    "billing",
                    sa.select(usage_ledger.c.usage_id).where(usage_ledger.c.group_id == app.group),
                )
                executions = (
                    await client.get(
                        f"{base['orchestrator']}/v1/executions", params={"plan_id": plan["id"]}
                    )
                ).json()
            dr_servers = Counter(
                s.metadata.get(META_OP) for s in await dr.compute.list_servers() if s.metadata
            )
            dr_volumes = Counter(
                v.metadata.get(META_OP) for v in await dr.block_storage.list_volumes() if v.metadata
            )
            dr_ports = [
                p
                for p in await dr.network.list_ports()
                if f"{META_OP}={execution_id}" in p.tags or execution_id in (p.description or "")
            ]
        finally:
            await client.aclose()
            await bus.stop()
            await driver.aclose()

    # --- figures ----------------------------------------------------------------------------
    orch_envelopes = [seen[i][1] for i in staged["orchestrator"] if i in seen]
    step_successes = Counter(
        env.message.step
        for env in orch_envelopes
        if isinstance(env.message, ExecutionStepProgressed)
        and env.message.execution_id == execution_id
        and env.message.status == "succeeded"
    )
    cp_events = [
        i
        for i in staged["replicator"]
        if i in seen and isinstance(seen[i][1].message, ConsistencyPointCreated)
    ]
    usage = [
        seen[i][1].message
        for i in staged["replicator"]
        if i in seen and isinstance(seen[i][1].message, UsageRecorded)
    ]
    not_twice = [i for i in ours if copies[i] < 2]
    deliveries = {
        (n, env.id)
        for n, spec_ in consumers.items()
        for topic, env in seen.values()
        if topic in spec_.consumes and type(env.message) in spec_.handlers
    }
    unhandled = [(n, i) for n, i in deliveries if i not in handled[n]]
    volumes = len(app.volumes)
    extra = {
        "cycles": max(0, len(cycles) - TICKS),
        "replicator CPs": max(0, len(rep_cps) - TICKS),
        "CP events": max(0, len(cp_events) - TICKS),
        "DR snapshots": max(0, len(dr_snapshots) - volumes * TICKS),
        "catalog CPs": max(0, len(catalog) - TICKS),
        "usage entries": max(0, len(ledger) - len(usage)),
        "executions": max(0, len(executions) - 1),
        "step successes": sum(n - 1 for n in step_successes.values() if n > 1),
        "servers": max(0, dr_servers[execution_id] - VMS),
        "volumes": max(0, dr_volumes[execution_id] - VMS),
        "ports": max(0, len(dr_ports) - VMS),
    }
    dropped = {
        n: sum(v for (_t, outcome), v in metrics[n].items() if outcome == "duplicate")
        for n in SERVICES
    }
    lost = sum(extra.values()) + len(unhandled) + len(not_twice)
    record_fault(
        "every event delivered twice (replicator, orchestrator, billing on Kafka + PostgreSQL)",
        tried=len(deliveries),
        survived=max(0, len(deliveries) - len(unhandled) - sum(extra.values())),
        lost=lost,
        detail=(
            f"tried: events x the groups handling them; {len(ours)} events each on Kafka "
            f"twice ({len(seen)} read back); duplicates dropped: "
            + ", ".join(f"{n} {dropped[n]}" for n in SERVICES)
            + f"; {TICKS} ticks -> {len(cycles)} cycles, {len(rep_cps)} CPs, {len(ledger)} usage "
            f"entries for {len(usage)} usage events; 1 start command -> "
            f"{len(executions)} execution; {time.monotonic() - began:.0f} s in all"
        ),
    )
    print(
        f"duplicates: app at {made:.1f} s, services up {started:.1f} s, {TICKS} CPs at "
        f"{replicated:.1f} s, failover done at {failed_over:.1f} s, "
        f"{time.monotonic() - began:.1f} s in all; {len(ours)} events twice, "
        f"{len(deliveries)} handled deliveries; dropped {dropped}; extra {extra}"
    )
    # The duplicates really arrived: every event twice on Kafka, and every consumer dropped one
    # copy of each event it handles.
    assert not not_twice, f"events not delivered twice: {not_twice}"
    for n in SERVICES:
        assert expected[n], f"{n} handled none of the test's events"
        for t, want in expected[n].items():
            assert metrics[n][(t, "duplicate")] >= want, (n, t, metrics[n])
    assert {"replicator", "orchestrator"} <= {_source(env) for _t, env in seen.values()}
    # Each handled once, with its effect once.
    assert not unhandled, unhandled
    assert execution["state"] == "succeeded", execution.get("error")
    assert [c["tick_seq"] for c in sorted(cycles, key=lambda c: c["tick_seq"])] == [1, 2]
    assert all(c["status"] == "succeeded" for c in cycles), cycles
    assert len(rep_cps) == TICKS and len(cp_events) == TICKS
    assert len(dr_snapshots) == volumes * TICKS, [s.name for s in dr_snapshots]
    assert len(catalog) == TICKS
    assert usage and sorted(r.usage_id for r in ledger) == sorted(
        u.usage_id for u in usage if isinstance(u, UsageRecorded)
    )
    assert [e["id"] for e in executions] == [execution_id]
    steps = [s["id"] for s in execution["steps"]]
    assert {s: step_successes[s] for s in steps} == dict.fromkeys(steps, 1)
    assert dr_servers[execution_id] == VMS and dr_volumes[execution_id] == VMS
    assert len(dr_ports) == VMS
    assert extra == dict.fromkeys(extra, 0)


def _event_id(record: Record) -> str:
    return dict(record.headers)["ce_id"].decode()


def _source(envelope: Envelope) -> str:
    """The service that published an event (``/lifeboat/<service>/...``), or its source."""
    parts = envelope.source.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "lifeboat" else envelope.source


async def read_back(
    bus: EventBus, ids: set[str], timeout: float = 60
) -> tuple[dict[str, tuple[str, Envelope]], Counter[str]]:
    """Read every topic from the start with a new consumer group until each of ``ids`` was seen
    twice (or the deadline): (topic, envelope) by event id, and how many copies of each came."""
    consumer = bus.consumer(f"audit-{uuid.uuid4().hex[:8]}", topics.ALL_TOPICS)
    await consumer.start()
    seen: dict[str, tuple[str, Envelope]] = {}
    copies: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + timeout
        while any(copies[i] < 2 for i in ids) and time.monotonic() < deadline:
            for rec in await consumer.poll(max_records=1000, timeout=0.5):
                headers = dict(rec.headers)
                event_id = headers.get("ce_id", b"").decode()
                if event_id in ids:
                    copies[event_id] += 1
                    seen[event_id] = (rec.topic, decode_record(rec))
    finally:
        await consumer.stop()
    return seen, copies
