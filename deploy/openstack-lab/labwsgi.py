"""gunicorn entry point for the lab's APIs: ``LAB_WSGI_SERVICE`` names the one to load.

Each project's WSGI module reads its configuration folder from an OS_<PROJECT>_CONFIG_DIR
variable (set by labproc). oslo.config also parses ``sys.argv``, which under gunicorn holds
gunicorn's own options, so it is cut to the program name before the import.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

MODULES = {
    "keystone": "keystone.wsgi.api",
    "placement": "placement.wsgi.api",
    "nova-api": "nova.wsgi.osapi_compute",
    "glance": "glance.wsgi.api",
    "neutron": "neutron.wsgi.api",
}

sys.argv = sys.argv[:1]
_SERVICE = os.environ["LAB_WSGI_SERVICE"]
if _SERVICE not in MODULES:
    raise SystemExit(f"labwsgi: unknown LAB_WSGI_SERVICE {_SERVICE!r}")
application: Any = importlib.import_module(MODULES[_SERVICE]).application
