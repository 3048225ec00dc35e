"""`lifeboat` verbs against a real policy service process (HTTP on a free local port)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from lifeboat_cli.main import app
from lifeboat_shared.settings import DEV_TOKEN
from tests.support.services import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def policy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("policy")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFEBOAT_")}
    env |= {
        "LIFEBOAT_DATA_DIR": str(workdir),
        "LIFEBOAT_POLICY_HTTP_PORT": str(port),
        "LIFEBOAT_JSON_LOGS": "false",
    }
    log = (workdir / "policy.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifeboat_policy.entrypoints.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "policy did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def run(url: str, *args: str, ok: bool = True) -> str:
    env = {"LIFEBOAT_POLICY_URL": url, "LIFEBOAT_TOKEN": DEV_TOKEN}
    result = CliRunner().invoke(app, list(args), env=env)
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_verbs_drive_the_policy_service(policy_url: str) -> None:
    run(policy_url, "site", "create", "a", "--cloud", "cloud-a", "--role", "protected")
    run(
        policy_url,
        "site",
        "create",
        "b",
        "--cloud",
        "cloud-b",
        "--role",
        "recovery",
        "--data-endpoint",
        "127.0.0.1:7000",
    )
    assert "cloud-b" in run(policy_url, "site", "list")
    out = run(
        policy_url,
        "policy",
        "create",
        "gold",
        "--rpo",
        "60",
        "--keep-last",
        "5",
        "--quiesce",
        "hook",
        "--pre-freeze-hook",
        "freeze-all",
        "--post-thaw-url",
        "https://app.example/thaw",
        "--bind-address",
        "192.0.2.1",
        "--json",
    )
    policy = json.loads(out)
    assert policy["quiesce"]["hook"]["pre_freeze"]["name"] == "freeze-all"
    assert policy["quiesce"]["hook"]["pre_freeze"]["command"] is None
    assert policy["strategy"] == "blocks"
    backup = json.loads(
        run(
            policy_url,
            "policy",
            "create",
            "vault",
            "--rpo",
            "3600",
            "--strategy",
            "backup",
            "--json",
        )
    )
    assert backup["strategy"] == "backup"
    assert "strategy: Input should be 'blocks' or 'backup'" in run(
        policy_url, "policy", "create", "bad", "--rpo", "60", "--strategy", "tape", ok=False
    )
    assert "gold" in run(policy_url, "policy", "show", "gold")
    group = json.loads(
        run(
            policy_url,
            "group",
            "create",
            "db",
            "--project",
            "p1",
            "--source",
            "a",
            "--target",
            "b",
            "--policy",
            "gold",
            "--server",
            "s1",
            "--volume",
            "v1",
            "--stateless",
            "web:cirros:m1.tiny",
            "--json",
        )
    )
    gid = group["id"]
    assert group["members"]["stateless"][0]["image"] == "cirros"
    # The operator's verb for members (and seeds, UC5c): replaced as given.
    moved = json.loads(
        run(
            policy_url,
            "group",
            "set-members",
            gid,
            "--server",
            "s1-rebuilt",
            "--volume",
            "v1",
            "--seed",
            "v1=dr-v1",
            "--json",
        )
    )
    assert moved["members"]["servers"] == ["s1-rebuilt"] and moved["members"]["stateless"] == []
    assert moved["seed_volumes"] == {"v1": "dr-v1"}
    assert "SOURCE_VOLUME=DR_VOLUME" in run(
        policy_url, "group", "set-members", gid, "--seed", "v1", ok=False
    )
    assert "db" in run(policy_url, "group", "list", "--project", "p1")
    # UC3a x UC9: a group replicating to a second DR site too (one replication leg per site).
    run(policy_url, "site", "create", "c", "--cloud", "cloud-c", "--role", "recovery")
    args = ("--project", "p2", "--source", "a", "--target", "b", "--policy", "gold")
    both = run(
        policy_url, "group", "create", "db2", *args, "--server", "s2", "--also-to", "c", "--json"
    )
    assert json.loads(both)["extra_target_sites"] == ["c"]
    first = json.loads(
        run(policy_url, "group", "replicate-now", gid, "--idempotency-key", "k1", "--json")
    )
    again = json.loads(
        run(policy_url, "group", "replicate-now", gid, "--idempotency-key", "k1", "--json")
    )
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert "yes" in run(policy_url, "group", "suspend", gid)
    status = json.loads(run(policy_url, "group", "status", gid, "--json"))
    assert status["suspended_by"] == "group" and status["next_due_at"] is None
    run(policy_url, "group", "resume", gid)
    run(policy_url, "link", "suspend", "a", "b")
    assert gid in run(policy_url, "link", "resume", "a", "b", "--json")
    second = json.loads(
        run(
            policy_url,
            "group",
            "create",
            "web",
            "--project",
            "p1",
            "--source",
            "a",
            "--target",
            "b",
            "--policy",
            policy["id"],
            "--server",
            "s2",
            "--json",
        )
    )
    run(
        policy_url,
        "app-set",
        "create",
        "shop",
        "--project",
        "p1",
        "--group",
        gid,
        "--group",
        second["id"],
    )
    assert "shop" in run(policy_url, "app-set", "list")


def test_errors_are_one_clear_line(policy_url: str) -> None:
    out = run(policy_url, "policy", "create", "bad", "--rpo", "60", "--cron", "* * * * *", ok=False)
    assert "422" in out and "cron: Value error, give either rpo_seconds or cron" in out
    out = run(policy_url, "group", "status", "nope", ok=False)
    assert "404: group_id: no protection group nope" in out
    out = run(policy_url, "policy", "create", "x", "--rpo", "5", "--quiesce", "hook", ok=False)
    assert "--pre-freeze-url or --pre-freeze-hook" in out
    out = run("http://127.0.0.1:9", "site", "list", ok=False)
    assert "cannot reach http://127.0.0.1:9" in out and "LIFEBOAT_POLICY_URL" in out
    out = run(
        policy_url, "cp", "list", "--group", "g", "--replicator-url", "http://127.0.0.1:9", ok=False
    )
    assert "LIFEBOAT_REPLICATOR_URL" in out
