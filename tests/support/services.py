"""Real Kafka and PostgreSQL for the test session: from the environment, or started here.

LIFEBOAT_KAFKA_BOOTSTRAP / LIFEBOAT_DATABASE_URL point at servers someone else runs (CI's test
command starts them once for all stages). Otherwise the project's own scripts start them in a
temporary directory and stop them at the end. A service that cannot be had fails the tests: it
is never a reason to skip.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = ROOT / "deploy" / "kafka" / "kafka-local.sh"
PG_SCRIPT = ROOT / "deploy" / "postgres" / "pg-local.sh"

# Taken out of the environment so settings built by tests never pick them up by accident.
ENV_KAFKA = os.environ.pop("LIFEBOAT_KAFKA_BOOTSTRAP", None)
ENV_DATABASE = os.environ.pop("LIFEBOAT_DATABASE_URL", None)


@contextmanager
def _script_service(
    script: Path, workdir: Path, what: str, *extra: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    result = subprocess.run(
        ["bash", str(script), "start", str(workdir), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"could not start {what}:\n{result.stdout}\n{result.stderr}")
    try:
        yield result.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(script), "stop", str(workdir)], timeout=120, check=False)


@contextmanager
def kafka(workdir: Path) -> Iterator[str]:
    if ENV_KAFKA:
        yield ENV_KAFKA
        return
    with _script_service(KAFKA_SCRIPT, workdir, "Kafka") as bootstrap:
        yield bootstrap


@contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    if ENV_DATABASE:
        yield ENV_DATABASE
        return
    with _script_service(PG_SCRIPT, workdir, "PostgreSQL") as url:
        yield url


@contextmanager
def kafka_sasl_ssl(workdir: Path, password: str) -> Iterator[str]:
    """A broker of the test's own whose only client listener is SASL_SSL (SCRAM-SHA-512, user
    "lifeboat" with ``password``); workdir/ca.crt is its CA, workdir/client.env the settings."""
    env = {"KAFKA_LOCAL_SASL_PASSWORD": password}
    with _script_service(KAFKA_SCRIPT, workdir, "Kafka (SASL_SSL)", "sasl_ssl", env=env) as b:
        yield b


@contextmanager
def postgres_with_password(workdir: Path, password: str) -> Iterator[str]:
    """A PostgreSQL of the test's own that demands ``password`` (scram-sha-256) over TCP."""
    env = {"PG_LOCAL_PASSWORD": password}
    with _script_service(PG_SCRIPT, workdir, "PostgreSQL (password)", env=env) as url:
        yield url
