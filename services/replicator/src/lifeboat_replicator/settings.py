"""Replicator settings: ``LIFEBOAT_REPLICATOR_*``, falling back to ``LIFEBOAT_*``."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, model_validator
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.hooks import CommandHook
from lifeboat_shared.secret_checks import weak_link_key
from lifeboat_shared.settings import ServiceSettings


class RbdSiteAccess(BaseModel):
    """How this host reaches one site's Ceph cluster with librbd (its own cephx user; never the
    keyring's contents in settings, events or logs: only the file's path)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ceph_conf: Path = Field(description="ceph.conf of the site's cluster (monitor addresses)")
    user: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="cephx id without 'client.': read-only at a protected site "
        "(profile rbd-read-only), read-write where this host writes replicas (profile rbd)",
    )
    keyring: Path = Field(description="keyring file of that user (0600)")
    pools: list[str] = Field(
        default_factory=lambda: ["volumes"],
        min_length=1,
        max_length=16,
        description="pools Cinder keeps this site's volumes in (rbd_pool of each backend)",
    )


class ReplicatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_REPLICATOR_", extra="ignore")

    http_port: int = Field(default=8702, ge=0, le=65535)
    # Several cycles at once, each checkpointing its stages, beside the consumer, the relay and
    # the API.
    db_pool_size: int = Field(default=8, ge=1, le=1000)
    db_max_overflow: int = Field(default=8, ge=0, le=1000)
    clouds_yaml: Path | None = Field(
        default=None, description="clouds.yaml with the sites' clouds (default: the usual search)"
    )
    state_dir: Path | None = Field(
        default=None,
        description="Hash manifests of replicated snapshots; default data_dir/replicator",
    )
    link_psk_file: Path | None = Field(
        default=None,
        description="32-byte pre-shared key of the data links (hex); required in production, "
        "generated under data_dir in the embedded mode",
    )
    link_bandwidth_bytes_per_s: int | None = Field(
        default=None, gt=0, description="Cap per site link (UC2d); groups may cap lower"
    )
    max_parallel_volumes: int = Field(default=4, ge=1, le=64)
    max_concurrent_cycles: int = Field(
        default=8,
        ge=1,
        le=1000,
        description="Cycles one replicator drives at once; it claims no more, so several "
        "replicators share the work",
    )
    max_cycle_attempts: int = Field(default=5, ge=1, le=100)
    runner_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    lease_seconds: float = Field(
        default=15, ge=1, le=3600, description="A killed runner's cycles resume after this"
    )
    link_retry_seconds: float = Field(
        default=30.0, ge=0, le=3600, description="A transfer rides out link faults this long"
    )
    rbd_sites: dict[str, RbdSiteAccess] = Field(
        default_factory=dict,
        max_length=256,
        description="Sites whose Cinder keeps volumes in Ceph RBD: site id -> librbd access "
        "(JSON in LIFEBOAT_REPLICATOR_RBD_SITES). Snapshots there are read and diffed directly, "
        "replicas written through librbd; other sites go through Cinder attachments",
    )
    backup_admin_cloud_suffix: str = Field(
        default="-admin",
        max_length=64,
        description="Backup strategy (UC7): a site's admin cloud in clouds.yaml is its cloud "
        "name plus this suffix (Cinder's backup record export/import is admin-only); it is "
        "scoped to the group's project by name",
    )
    hooks: dict[str, CommandHook] = Field(
        default_factory=dict,
        max_length=256,
        description="Quiesce command hooks installed on this host (JSON in "
        "LIFEBOAT_REPLICATOR_HOOKS): name -> {argv, timeout_seconds}; policies name them "
        '({"kind": "command", "name": ...}), the API never carries a command line',
    )
    webhook_allow_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        max_length=256,
        description="Networks quiesce webhooks may reach besides global addresses (JSON list of "
        "CIDRs in LIFEBOAT_REPLICATOR_WEBHOOK_ALLOW_NETWORKS or LIFEBOAT_WEBHOOK_ALLOW_NETWORKS)",
    )
    connector_host: str = Field(default_factory=socket.gethostname, min_length=1)
    receiver_listen: str = Field(default="127.0.0.1:7410", pattern=r"^[^:]+:[0-9]{1,5}$")

    @model_validator(mode="after")
    def _link_key(self) -> ReplicatorSettings:
        if self.mode != "embedded" and self.link_psk_file is None:
            raise ValueError(
                "link_psk_file: required outside the embedded mode "
                "(LIFEBOAT_REPLICATOR_LINK_PSK_FILE)"
            )
        if self.mode == "production" and self.link_psk_file is not None:
            _refuse_weak_link_key(self.link_psk_file)
        return self

    def secret_values(self) -> list[str]:
        """The common secrets plus the link key as written in its file (for log redaction)."""
        key = ""
        if self.link_psk_file is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                key = self.link_psk_file.read_text("ascii").strip()
        return [*super().secret_values(), *([key] if len(key) >= 16 else [])]

    def resolved_state_dir(self) -> Path:
        return self.state_dir or (self.data_dir / "replicator")

    def resolved_psk_file(self) -> Path:
        """The link key; in the embedded mode created on first use (0600)."""
        if self.link_psk_file is not None:
            return self.link_psk_file
        path = self.data_dir / "link.psk"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        return path

    def connector(self) -> dict[str, object]:
        """This host as a Cinder attachment connector (what os-brick would report)."""
        return {
            "host": self.connector_host,
            "initiator": f"iqn.2026-11.io.lifeboat:{self.connector_host}",
            "multipath": False,
            "platform": "x86_64",
            "os_type": "linux",
        }


def _refuse_weak_link_key(path: Path) -> None:
    """Production refuses a placeholder link key (all one byte, e.g. 64 zeros); the value is
    never printed. An unreadable or malformed file is reported when the link is built."""
    try:
        text = path.read_bytes().strip()
        key = bytes.fromhex(text.decode("ascii")) if len(text) == 64 else text
    except (OSError, ValueError):
        return
    if weak_link_key(key):
        raise ValueError(
            "link_psk_file: the link key is a placeholder (one repeated byte), refused in "
            "production mode; generate one with `openssl rand -hex 32` "
            "(LIFEBOAT_REPLICATOR_LINK_PSK_FILE)"
        )
