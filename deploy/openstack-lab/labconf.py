"""Configuration files of one lab site, rendered from its ``Site``.

Every service logs to stderr (captured per process in DIR/logs), listens on 127.0.0.1 on the
site's own ports, keeps its state under DIR/data and its SQLite database under DIR/data/db.
Options are the few that differ from the defaults for a single machine with no data plane:
fake compute driver, a volume driver that needs no storage array, an ML2 driver that binds ports
without agents, Glance's file store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from labsite import REGION, SERVICE_PASSWORD, Site

Sections = dict[str, dict[str, str]]


def ini(sections: Sections) -> str:
    """Render an oslo.config file."""
    out: list[str] = []
    for name, options in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{key} = {value}" for key, value in options.items())
        out.append("")
    return "\n".join(out)


def _service_auth(site: Site, username: str) -> dict[str, str]:
    """keystoneauth password options for a service user in the 'service' project."""
    return {
        "auth_url": site.url("keystone"),
        "auth_type": "password",
        "project_domain_name": "Default",
        "user_domain_name": "Default",
        "project_name": "service",
        "region_name": REGION,
        "username": username,
        "password": SERVICE_PASSWORD,
    }


def _authtoken(site: Site, username: str) -> dict[str, str]:
    """keystonemiddleware options; service tokens (Nova -> Cinder) need the 'service' role."""
    return {
        "www_authenticate_uri": site.url("keystone"),
        "service_token_roles_required": "true",
        "service_token_roles": "service",
        **_service_auth(site, username),
    }


def _common(site: Site, service: str) -> dict[str, str]:
    return {
        "debug": "false",
        "use_stderr": "true",
        "state_path": str(site.data / service),
        "host": site.host,
        "my_ip": "127.0.0.1",
        # Periodic tasks (Nova's discovery of the compute host, resource reports) otherwise
        # start after a random delay of up to 60 s.
        "periodic_fuzzy_delay": "0",
        # nova-scheduler otherwise takes ~9 s to exit on SIGTERM; a test site has no work to save.
        "graceful_shutdown_timeout": "3",
    }


def keystone(site: Site) -> Sections:
    """Keystone: SQLite, fernet tokens, cheap password hashing (the lab's users are throwaway)."""
    keys = site.data / "keystone"
    return {
        "DEFAULT": {"debug": "false", "use_stderr": "true"},
        "database": {"connection": site.sqlite("keystone")},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": str(keys / "fernet-keys")},
        "fernet_receipts": {"key_repository": str(keys / "fernet-keys")},
        "credential": {"key_repository": str(keys / "credential-keys")},
        "identity": {"password_hash_rounds": "4"},
    }


def placement(site: Site) -> Sections:
    """Placement: Keystone auth, SQLite."""
    return {
        "DEFAULT": {"debug": "false", "use_stderr": "true"},
        "api": {"auth_strategy": "keystone"},
        "placement_database": {"connection": site.sqlite("placement")},
        "keystone_authtoken": _authtoken(site, "placement"),
    }


def nova(site: Site) -> Sections:
    """Nova: fake virt driver, one worker each, quick discovery of the compute host."""
    paste = site.venv / "etc" / "nova" / "api-paste.ini"
    return {
        "DEFAULT": {
            **_common(site, "nova"),
            "transport_url": site.transport_url,
            "compute_driver": "fake.FakeDriver",
            "instances_path": str(site.data / "nova" / "instances"),
            "rootwrap_config": str(site.venv / "etc" / "nova" / "rootwrap.conf"),
            # The fake driver reports plenty; keep the scheduler from refusing test boots.
            "initial_ram_allocation_ratio": "4.0",
            "initial_disk_allocation_ratio": "4.0",
        },
        "api": {"auth_strategy": "keystone"},
        "wsgi": {"api_paste_config": str(paste)},
        "api_database": {"connection": site.sqlite("nova_api")},
        "database": {"connection": site.sqlite("nova")},
        "keystone_authtoken": _authtoken(site, "nova"),
        "service_user": {"send_service_user_token": "true", **_service_auth(site, "nova")},
        "placement": _service_auth(site, "placement"),
        "neutron": _service_auth(site, "neutron"),
        "cinder": {"os_region_name": REGION, **_service_auth(site, "nova")},
        "glance": {"region_name": REGION},
        "scheduler": {"workers": "1", "discover_hosts_in_cells_interval": "2"},
        "conductor": {"workers": "1"},
        "oslo_concurrency": {"lock_path": str(site.data / "nova" / "lock")},
        "oslo_messaging_notifications": {"driver": "noop"},
        "vnc": {"enabled": "false"},
        "os_vif_ovs": {"isolate_vif": "false"},
    }


def cinder(site: Site) -> Sections:
    """Cinder: one backend named 'lab' with the file-backed or the fake driver."""
    etc = site.venv / "etc" / "cinder"
    if site.volume_driver == "file":
        backend = {
            "volume_driver": "oslab_plugins.file_volume.FileVolumeDriver",
            "lab_file_volume_dir": str(site.data / "cinder" / "volumes"),
        }
    elif site.volume_driver == "rbd":
        backend = {
            "volume_driver": "cinder.volume.drivers.rbd.RBDDriver",
            "rbd_pool": "volumes",
            "rbd_user": "cinder",
            "rbd_ceph_conf": str(site.ceph_conf),
            # Volumes from snapshots stay copy-on-write clones: deleting the snapshot later
            # works anyway (Cinder's delete_snapshot flattens the clones when the snapshot
            # cannot be unprotected). See README.md.
            "rbd_flatten_volume_from_snapshot": "false",
            # Nova's fake driver never asks libvirt for this secret; any uuid does.
            "rbd_secret_uuid": RBD_SECRET_UUID,
            "report_discard_supported": "true",
            # Images from Glance's file store are downloaded and imported with `rbd import`.
            "image_conversion_dir": str(site.data / "cinder" / "conversion"),
        }
    else:
        backend = {"volume_driver": "cinder.tests.fake_driver.FakeLoggingVolumeDriver"}
    extra: Sections = {}
    if site.volume_driver == "rbd":
        # Cinder inspects a Glance image's format in its privsep daemon before `rbd import`;
        # the default helper is `sudo cinder-rootwrap ...`, which sudo's PATH cannot find.
        conf = site.etc / "cinder" / "cinder.conf"
        helper = f"{site.bin / 'privsep-helper'} --config-file {conf}"
        extra["cinder_sys_admin"] = {
            "helper_command": helper if os.geteuid() == 0 else f"sudo {helper}"
        }
    return {
        "DEFAULT": {
            **_common(site, "cinder"),
            "transport_url": site.transport_url,
            "auth_strategy": "keystone",
            "enabled_backends": "lab",
            "default_volume_type": "__DEFAULT__",
            "osapi_volume_listen": "127.0.0.1",
            "osapi_volume_listen_port": str(site.ports["cinder"]),
            "osapi_volume_workers": "1",
            "glance_api_servers": site.url("glance"),
            "api_paste_config": str(etc / "api-paste.ini"),
            "resource_query_filters_file": str(etc / "resource_filters.json"),
            "rootwrap_config": str(etc / "rootwrap.conf"),
        },
        "database": {"connection": site.sqlite("cinder")},
        "keystone_authtoken": _authtoken(site, "cinder"),
        "nova": {"interface": "public", **_service_auth(site, "nova")},
        "oslo_concurrency": {"lock_path": str(site.data / "cinder" / "lock")},
        "oslo_messaging_notifications": {"driver": "noop"},
        "coordination": {"backend_url": f"file://{site.data / 'cinder' / 'coordination'}"},
        "lab": {"volume_backend_name": "lab", **backend},
        **extra,
    }


# Any fixed uuid: Cinder puts it in the rbd connection info for libvirt, which the lab has not.
RBD_SECRET_UUID = "7c9c1e5a-3f0e-4c57-9d1c-1ab0ce1ab0ce"


def ceph_cluster(site: Site) -> dict[str, object]:
    """cluster.json of the site's Ceph cluster (written by deploy/ceph/ceph-local.sh start)."""
    path = Path(site.ceph_dir) / "cluster.json"
    if not path.exists():
        raise SystemExit(f"lab: no Ceph cluster in {site.ceph_dir} (missing {path})")
    return dict(json.loads(path.read_text()))


def ceph_conf(site: Site) -> str:
    """The site's ceph.conf: the cluster's own, plus the cinder client's keyring.

    The cluster's conf is shared by every client of the cluster (its [global] keyring line
    names DIR/$name.keyring); this copy says explicitly which key the site's Cinder uses, so
    the site does not depend on the cluster folder's naming and another site on the same
    cluster could use another key.
    """
    cluster = ceph_cluster(site)
    keyrings = dict(cluster["keyrings"])  # type: ignore[call-overload]
    if "cinder" not in keyrings:
        raise SystemExit(f"lab: the Ceph cluster in {site.ceph_dir} has no client.cinder key")
    text = Path(str(cluster["conf"])).read_text()
    return (
        f"{text.rstrip()}\n\n# Added by the OpenStack lab for site {site.name}:\n"
        f"[client.cinder]\nkeyring = {keyrings['cinder']}\n"
    )


def glance(site: Site) -> Sections:
    """Glance: the file store, local staging and tasks stores."""
    data = site.data / "glance"
    return {
        "DEFAULT": {
            "debug": "false",
            "use_stderr": "true",
            "enabled_backends": "fs:file",
            "worker_self_reference_url": site.url("glance"),
            "image_cache_dir": str(data / "cache"),
            "bind_host": "127.0.0.1",
            "bind_port": str(site.ports["glance"]),
        },
        "database": {"connection": site.sqlite("glance")},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": str(data / "images")},
        "os_glance_staging_store": {"filesystem_store_datadir": str(data / "staging")},
        "os_glance_tasks_store": {"filesystem_store_datadir": str(data / "tasks")},
        "paste_deploy": {
            "flavor": "keystone",
            "config_file": str(site.venv / "etc" / "glance" / "glance-api-paste.ini"),
        },
        "keystone_authtoken": _authtoken(site, "glance"),
        "oslo_concurrency": {"lock_path": str(data / "lock")},
    }


def neutron(site: Site) -> Sections:
    """Neutron: ML2 with the lab's bind-all mechanism driver, routers, no agents, no RPC."""
    return {
        "DEFAULT": {
            **_common(site, "neutron"),
            "core_plugin": "ml2",
            "service_plugins": "router",
            "auth_strategy": "keystone",
            "transport_url": site.transport_url,
            "api_paste_config": str(site.venv / "etc" / "neutron" / "api-paste.ini"),
            "notify_nova_on_port_status_changes": "false",
            "notify_nova_on_port_data_changes": "false",
            "api_workers": "1",
            "rpc_workers": "0",
            "rpc_state_report_workers": "0",
        },
        "database": {"connection": site.sqlite("neutron")},
        "keystone_authtoken": _authtoken(site, "neutron"),
        # The segments plugin reports networks to Placement in a background thread.
        "placement": _service_auth(site, "placement"),
        "nova": _service_auth(site, "nova"),
        "oslo_concurrency": {"lock_path": str(site.data / "neutron" / "lock")},
        "agent": {"root_helper": ""},
    }


def ml2(site: Site) -> Sections:
    """ML2: project networks are VLANs on physnet1 (nothing carries them), flat for external."""
    del site
    return {
        "ml2": {
            "type_drivers": "flat,vlan",
            "tenant_network_types": "vlan",
            "mechanism_drivers": "lab_bindall",
            "extension_drivers": "port_security",
        },
        "ml2_type_flat": {"flat_networks": "*"},
        "ml2_type_vlan": {"network_vlan_ranges": "physnet1:100:999"},
        "securitygroup": {"firewall_driver": "noop"},
    }


def write_all(site: Site) -> None:
    """Render every configuration file and create the state folders."""
    files: dict[Path, Sections] = {
        site.etc / "keystone" / "keystone.conf": keystone(site),
        site.etc / "placement" / "placement.conf": placement(site),
        site.etc / "nova" / "nova.conf": nova(site),
        site.etc / "cinder" / "cinder.conf": cinder(site),
        site.etc / "glance" / "glance-api.conf": glance(site),
        site.etc / "neutron" / "neutron.conf": neutron(site),
        site.etc / "neutron" / "ml2_conf.ini": ml2(site),
    }
    for path, sections in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ini(sections))
    if site.volume_driver == "rbd":
        site.ceph_conf.parent.mkdir(parents=True, exist_ok=True)
        site.ceph_conf.write_text(ceph_conf(site))
    for sub in (
        "db",
        "keystone",
        "nova/instances",
        "nova/lock",
        "cinder/lock",
        "cinder/volumes",
        "cinder/coordination",
        "cinder/conversion",
        "glance/images",
        "glance/staging",
        "glance/tasks",
        "glance/cache",
        "glance/lock",
        "neutron/lock",
        "placement",
        "rabbitmq",
    ):
        (site.data / sub).mkdir(parents=True, exist_ok=True)
    site.logs.mkdir(parents=True, exist_ok=True)
    site.run.mkdir(parents=True, exist_ok=True)
