"""The P6 world with every cloudsim site in a process of its own (bench/rpo_sustained.py).

`lifeboat_cli.demo.demo_world` runs both sites in one cloudsim process; here site-a (the protected
site, whose process also runs the workload writers: they must share its process, because
cloudsim's write fence that makes snapshots crash-consistent is process-local) and site-b (the DR
site) each get their own, so their CPU is reported apart. The receivers are processes of their
own as in the demo. One clouds.yaml names both sites.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import yaml

from cloudsim.testing import SiteSet, running_sites
from lifeboat_cli.demo import SOURCE, TARGET, DemoWorld
from lifeboat_replicator.entrypoints.receiver import spawned_receiver


@contextlib.contextmanager
def split_world(data_dir: Path) -> Iterator[DemoWorld]:
    with (
        running_sites([SOURCE], data_dir / "sites-a") as a,
        running_sites([TARGET], data_dir / "sites-b") as b,
    ):
        clouds: dict[str, object] = {}
        for part in (a, b):
            clouds.update(yaml.safe_load(part.clouds_yaml.read_text())["clouds"])
        merged = data_dir / "clouds.yaml"
        merged.write_text(yaml.safe_dump({"clouds": clouds}))
        sites = SiteSet(sites={**a.sites, **b.sites}, clouds_yaml=merged, pid=a.pid)
        with (
            spawned_receiver(TARGET, data_dir=data_dir, clouds_yaml=merged) as (_p, addr),
            spawned_receiver(SOURCE, data_dir=data_dir, clouds_yaml=merged) as (_q, back),
        ):
            yield DemoWorld(sites, addr, {TARGET: addr, SOURCE: back})
