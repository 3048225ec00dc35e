"""Fixtures for the data mover tests (helpers live in dm_support)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dm_support import MiB, Site, running_receiver

from lifeboat_replicator.datamover import LinkSecurity


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    psk = os.urandom(32)
    sec = LinkSecurity(psk=psk)
    root = tmp_path / "dr"
    with running_receiver(root, sec, sync_every=2 * MiB, sync_interval=0.1) as rcv:
        yield Site(root, psk, sec, rcv.port, rcv)
