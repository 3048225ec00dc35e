"""Session-wide real services for every test under tests/."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import services


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="lifeboat-kafka-") as d, services.kafka(Path(d)) as b:
        yield b


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    # Under /tmp with a short name: the postgres user must reach it and its socket path is limited.
    with tempfile.TemporaryDirectory(prefix="lbpg-") as d, services.postgres(Path(d)) as url:
        yield url
