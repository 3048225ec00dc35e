"""The golden copy: every database initialised and Keystone populated once, then reused.

Initialising the schemas of six services takes 30-40 s on two cores; copying the result takes
well under a second. ``build`` makes the copy in a throwaway site folder (databases in parallel,
then Keystone started alone to register users and the catalog) and moves it into place
atomically; ``restore`` copies it into a site before start.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import labconf
import labkeystone
import labproc
import labready
from labsite import ADMIN_PASSWORD, REGION, Site

DATABASES = (
    "keystone",
    "placement",
    "nova_api",
    "nova",
    "nova_cell0",
    "cinder",
    "glance",
    "neutron",
)
KEY_DIRS = ("fernet-keys", "credential-keys")

# Neutron's schema from its models, plus the one data migration a new database gets: the
# default security group rule templates (egress IPv4/IPv6 for every group, ingress from the
# group itself for 'default'), read from the migration file itself so they match real Neutron.
_NEUTRON_SCHEMA = """
import importlib.util, pathlib, sys
import sqlalchemy as sa
import neutron
from neutron.db.migration.models import head
engine = sa.create_engine(sys.argv[1])
head.get_metadata().create_all(engine)
path = next(pathlib.Path(neutron.__file__).parent.glob(
    "db/migration/alembic_migrations/versions/*/expand/*_security_group_default_rules.py"))
spec = importlib.util.spec_from_file_location("sg_default_rules", path)
mig = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mig)
meta = sa.MetaData()
std = sa.Table("standardattributes", meta, autoload_with=engine)
rules = sa.Table(mig.table_name, meta, autoload_with=engine)
with engine.begin() as conn:
    for rule in mig.default_template_rules:
        rule = dict(rule)
        res = conn.execute(sa.insert(std).values(
            description=rule.pop("description"), resource_type=mig.table_name))
        conn.execute(sa.insert(rules).values(standard_attr_id=res.inserted_primary_key[0], **rule))
"""


def _init_steps(site: Site) -> dict[str, list[list[str]]]:
    """Commands per service, run in order within a service and in parallel across services."""
    b, etc = site.bin, site.etc
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    ks = [str(b / "keystone-manage"), "--config-file", str(etc / "keystone" / "keystone.conf")]
    nm = [str(b / "nova-manage"), "--config-file", str(etc / "nova" / "nova.conf")]
    neutron_conf = [
        "--config-file",
        str(etc / "neutron" / "neutron.conf"),
        "--config-file",
        str(etc / "neutron" / "ml2_conf.ini"),
    ]
    return {
        "keystone": [
            [*ks, "db_sync"],
            [*ks, "fernet_setup", "--keystone-user", user, "--keystone-group", group],
            [*ks, "credential_setup", "--keystone-user", user, "--keystone-group", group],
            [
                *ks,
                "bootstrap",
                "--bootstrap-password",
                ADMIN_PASSWORD,
                "--bootstrap-admin-url",
                site.auth_url,
                "--bootstrap-internal-url",
                site.auth_url,
                "--bootstrap-public-url",
                site.auth_url,
                "--bootstrap-region-id",
                REGION,
            ],
        ],
        "nova": [
            [*nm, "api_db", "sync"],
            [
                *nm,
                "cell_v2",
                "map_cell0",
                "--database_connection",
                site.sqlite("nova_cell0"),
            ],
            [*nm, "cell_v2", "create_cell", "--name", "cell1"],
            [*nm, "db", "sync"],
        ],
        "placement": [
            [
                str(b / "placement-manage"),
                "--config-file",
                str(etc / "placement" / "placement.conf"),
                "db",
                "sync",
            ]
        ],
        "cinder": [
            [
                str(b / "cinder-manage"),
                "--config-file",
                str(etc / "cinder" / "cinder.conf"),
                "db",
                "sync",
            ]
        ],
        "glance": [
            [
                str(b / "glance-manage"),
                "--config-file",
                str(etc / "glance" / "glance-api.conf"),
                "db_sync",
            ]
        ],
        # neutron-db-manage upgrade fails on SQLite (ALTER TABLE); create the head schema
        # from the models and stamp it instead.
        "neutron": [
            [str(b / "python"), "-c", _NEUTRON_SCHEMA, f"sqlite:///{site.db / 'neutron.db'}"],
            [str(b / "neutron-db-manage"), *neutron_conf, "stamp", "heads"],
        ],
    }


def _run_steps(site: Site, service: str, steps: list[list[str]]) -> None:
    log_path = site.logs / f"init-{service}.log"
    with open(log_path, "ab") as log:
        for argv in steps:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            done = subprocess.run(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=site.dir, check=False
            )
            if done.returncode != 0:
                raise SystemExit(
                    f"lab: initialising {service} failed ({argv[0]} exited {done.returncode});"
                    f" log {log_path}:\n{labproc.log_tail(site, f'init-{service}')}"
                )


def build(venv: Path, dest: Path) -> None:
    """Make the golden copy at ``dest`` (a folder that must not exist yet)."""
    t0 = time.monotonic()
    work = dest.parent / f"{dest.name}.build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    site = Site.new(work, "golden", venv, None, "fake")
    labconf.write_all(site)
    steps = _init_steps(site)
    with ThreadPoolExecutor(len(steps)) as pool:
        for future in [pool.submit(_run_steps, site, name, s) for name, s in steps.items()]:
            future.result()
    print(f"lab: golden databases initialised in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    child = labproc.spawn(site, labproc.keystone(site))
    try:
        labready.wait_all(
            site, {"keystone": child}, [labready.http_check("keystone", site.auth_url)], 120
        )
        labkeystone.register(site)
    finally:
        labproc.stop(site, ["keystone"])
    staging = dest.parent / f"{dest.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "db").mkdir(parents=True)
    for name in DATABASES:
        # WAL: readers never block the writer, which several services on one file need.
        with sqlite3.connect(site.db / f"{name}.db") as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy2(site.db / f"{name}.db", staging / "db" / f"{name}.db")
    for key_dir in KEY_DIRS:
        shutil.copytree(site.data / "keystone" / key_dir, staging / "keystone" / key_dir)
    meta = {
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": time.monotonic() - t0,
    }
    (staging / "golden.json").write_text(json.dumps(meta) + "\n")
    os.rename(staging, dest)
    shutil.rmtree(work, ignore_errors=True)
    print(f"lab: golden copy made in {time.monotonic() - t0:.1f}s at {dest}", file=sys.stderr)


def restore(golden: Path, site: Site) -> None:
    """Copy the golden databases and keys into a site (its folders already rendered)."""
    if not (golden / "golden.json").exists():
        raise SystemExit(f"lab: no golden copy at {golden} (run lab.sh install)")
    for name in DATABASES:
        shutil.copy2(golden / "db" / f"{name}.db", site.db / f"{name}.db")
    for key_dir in KEY_DIRS:
        target = site.data / "keystone" / key_dir
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(golden / "keystone" / key_dir, target)
    labkeystone.rewrite(site)
