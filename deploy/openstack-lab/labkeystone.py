"""Keystone contents of the golden copy, and the per-site rewrites of what holds a port or path.

The golden databases are made once, on whatever ports were free then. At each start the site's
own ports and folders are written straight into the restored SQLite files (catalog endpoint URLs
in Keystone, cell mappings in Nova's API database) before any service reads them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from labsite import (
    ADMIN_PASSWORD,
    MEMBER_PASSWORD,
    MEMBER_PROJECT,
    MEMBER_USER,
    REGION,
    SERVICE_PASSWORD,
    SERVICE_USERS,
    Site,
)

# name, type of each catalog entry besides Keystone's own (made by keystone-manage bootstrap).
CATALOG = (
    ("nova", "compute"),
    ("placement", "placement"),
    ("cinderv3", "block-storage"),
    ("cinder", "volumev3"),
    ("glance", "image"),
    ("neutron", "network"),
)


def admin_connection(site: Site) -> Any:
    """An openstacksdk connection as the bootstrap admin."""
    import openstack  # slow to import; only the golden build needs it

    return openstack.connect(
        auth_url=site.auth_url,
        username="admin",
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=REGION,
        load_yaml_config=False,
        load_envvars=False,
    )


def register(site: Site) -> None:
    """Service users and catalog, plus the member user and project the tests act as."""
    conn = admin_connection(site)
    idn = conn.identity
    admin_role = idn.find_role("admin")
    member_role = idn.find_role("member")
    reader_role = idn.find_role("reader")
    service_role = idn.find_role("service") or idn.create_role(name="service")
    service_project = idn.create_project(name="service", domain_id="default")
    for name in SERVICE_USERS:
        user = idn.create_user(name=name, password=SERVICE_PASSWORD, domain_id="default")
        for role in (admin_role, service_role):
            idn.assign_project_role_to_user(service_project, user, role)
    urls = site.endpoint_urls()
    for name, stype in CATALOG:
        service = idn.create_service(name=name, type=stype)
        for interface in ("public", "internal", "admin"):
            idn.create_endpoint(
                service_id=service.id, interface=interface, url=urls[stype], region_id=REGION
            )
    project = idn.create_project(name=MEMBER_PROJECT, domain_id="default")
    member = idn.create_user(
        name=MEMBER_USER,
        password=MEMBER_PASSWORD,
        domain_id="default",
        default_project_id=project.id,
    )
    for role in (member_role, reader_role):
        idn.assign_project_role_to_user(project, member, role)
    # The cloud admin may scope to the tenant project too, as an operator running Lifeboat with
    # an admin account does on a real cloud.
    idn.assign_project_role_to_user(
        project, idn.find_user("admin", domain_id="default"), admin_role
    )


def rewrite(site: Site) -> None:
    """Point the restored databases at this site's ports and folders."""
    urls = site.endpoint_urls()
    with sqlite3.connect(site.db / "keystone.db") as db:
        rows = db.execute("SELECT id, type FROM service").fetchall()
        for service_id, stype in rows:
            if stype not in urls:
                raise SystemExit(f"lab: golden Keystone has an unknown service type {stype!r}")
            db.execute(
                "UPDATE endpoint SET url = ? WHERE service_id = ?", (urls[stype], service_id)
            )
        # Keystone records each user's last authentication day and writes it on the first
        # token of the day; at start a dozen services ask at once and SQLite answers "database
        # is locked". Dating every user today leaves the writes out.
        db.execute("UPDATE \"user\" SET last_active_at = date('now')")
    with sqlite3.connect(site.db / "nova_api.db") as db:
        cells = dict(db.execute("SELECT name, uuid FROM cell_mappings").fetchall())
        if set(cells) != {"cell0", "cell1"}:
            raise SystemExit(f"lab: golden Nova has unexpected cells {sorted(cells)}")
        db.execute(
            "UPDATE cell_mappings SET database_connection = ? WHERE name = 'cell0'",
            (site.sqlite("nova_cell0"),),
        )
        db.execute(
            "UPDATE cell_mappings SET database_connection = ?, transport_url = ? "
            "WHERE name = 'cell1'",
            (site.sqlite("nova"), site.transport_url),
        )
