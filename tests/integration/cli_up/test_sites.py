"""`lifeboat up --sites a,b,c --no-demo`: three cloudsim sites, each with its receiver, all
registered, no demo workload; `lifeboat dr-site list` shows the three, up, each probed healthy
by the orchestrator. Then SIGTERM stops everything cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
SITES = ("site-a", "site-b", "site-c")

pytestmark = pytest.mark.timeout(300)


def _lifeboat(*args: str, env: dict[str, str], timeout: float = 60) -> Any:
    run = subprocess.run(
        [sys.executable, "-m", "lifeboat_cli.main", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)


def test_up_runs_three_sites_without_the_demo_and_dr_site_list_shows_them(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFEBOAT_")}
    env["LIFEBOAT_ORCHESTRATOR_PROBE_INTERVAL_SECONDS"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifeboat_cli.main", "up", "--sites", ",".join(SITES),
         "--no-demo", "--port-base", "0", "--json", "--data-dir", str(tmp_path / "lb")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()  # the first JSON line, once everything is up
        assert line, f"lifeboat up exited {proc.wait(timeout=30)}: {proc.communicate()[1]}"
        ready = json.loads(line)
        assert ready["event"] == "ready"
        assert sorted(ready["sites"]) == list(SITES)  # a receiver for each
        cli_env = {
            **env,
            "LIFEBOAT_POLICY_URL": ready["services"]["policy"],
            "LIFEBOAT_ORCHESTRATOR_URL": ready["services"]["orchestrator"],
        }
        deadline = time.monotonic() + 120
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = _lifeboat("dr-site", "list", "--json", env=cli_env)
            if [r["site_id"] for r in rows] == list(SITES) and all(
                r["registered"] and r["state"] == "up" and r["last_healthy_at"] for r in rows
            ):
                break
            time.sleep(1)
        else:
            pytest.fail(f"dr-site list never showed three healthy sites: {rows}")
        groups = _lifeboat("group", "list", "--json", env=cli_env)
        assert groups == []  # --no-demo: nothing protected
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopped cleanly" in err


def test_sites_from_a_config_file_and_refusals_naming_the_option(tmp_path: Path) -> None:
    import typer

    from lifeboat_cli.up_sites import resolve_sites

    config = tmp_path / "lab.yaml"
    config.write_text("sites: [east, west, north]\ndemo: false\n")
    assert resolve_sites(None, config, True) == (("east", "west", "north"), False)
    assert resolve_sites(None, None, True) == (("site-a", "site-b"), True)
    assert resolve_sites("site-a, site-b,site-c", None, True)[0] == ("site-a", "site-b", "site-c")
    refusals = [
        ("east,west", None, True),  # the demo needs site-a and site-b
        ("a,a", None, False),
        ("a b", None, False),
        ("a", config, False),
    ]
    for sites, path, demo in refusals:
        with pytest.raises(typer.Exit) as refused:
            resolve_sites(sites, path, demo)
        assert refused.value.exit_code == 2
    config.write_text("sites: east\n")
    with pytest.raises(typer.Exit):
        resolve_sites(None, config, False)
