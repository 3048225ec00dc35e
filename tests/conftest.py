"""Session-wide real services for every test under tests/."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import services

LAB_TESTS = Path(__file__).parent / "lab"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/lab needs two real OpenStack sites on Ceph: it is the lab stage's
    (deploy/openstack-lab/ci.sh names it), not collected by a plain `pytest`."""
    if collection_path == LAB_TESTS or LAB_TESTS in collection_path.parents:
        named = [Path(a.split("::")[0]).resolve() for a in config.args]
        if not any(p == LAB_TESTS or LAB_TESTS in p.parents for p in named):
            return True
    return None


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="lifeboat-kafka-") as d, services.kafka(Path(d)) as b:
        yield b


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    # Under /tmp with a short name: the postgres user must reach it and its socket path is limited.
    with tempfile.TemporaryDirectory(prefix="lbpg-") as d, services.postgres(Path(d)) as url:
        yield url
