"""The OSC plugin module (entry point ``openstack.cli.extension: dr``), as python-masakariclient's.

OSC calls ``make_client`` the first time a ``dr`` command needs the API; the client uses the
command's keystoneauth session (the Keystone token of ``--os-cloud``) and finds Lifeboat's one
endpoint in that session's catalog under the ``disaster-recovery`` service type.
"""

from __future__ import annotations

import argparse
from typing import Any

from osc_lib import utils

DEFAULT_API_VERSION = "1"
API_VERSION_OPTION = "os_dr_api_version"
API_NAME = "dr"
API_VERSIONS = {"1": "lifeboat_osc.client.Client"}


def make_client(instance: Any) -> Any:
    from lifeboat_osc.client import Client

    return Client(
        instance.session,
        interface=instance.interface,
        region_name=instance.region_name,
        # clouds.yaml may pin the endpoint (dr_endpoint_override); else the catalog's
        endpoint_override=(instance.get_configuration() or {}).get("dr_endpoint_override"),
    )


def build_option_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--os-dr-api-version",
        metavar="<dr-api-version>",
        default=utils.env("OS_DR_API_VERSION", default=DEFAULT_API_VERSION),
        help="Lifeboat (disaster-recovery) API version, default=1 (Env: OS_DR_API_VERSION)",
    )
    return parser
