"""`python -m lifeboat_dashboard [port]`: the dashboard alone, API URLs from the environment.

Port: the argument, else LIFEBOAT_DASHBOARD_HTTP_PORT (8100); address: LIFEBOAT_HTTP_HOST
(127.0.0.1; the Helm chart sets 0.0.0.0 inside the pod).
"""

from __future__ import annotations

import os
import sys

import uvicorn

from lifeboat_dashboard.app import create_app
from lifeboat_dashboard.config import DashboardConfig


def main() -> None:
    default = os.environ.get("LIFEBOAT_DASHBOARD_HTTP_PORT", "8100")
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(default)
    host = os.environ.get("LIFEBOAT_HTTP_HOST", "127.0.0.1")
    uvicorn.run(create_app(DashboardConfig.from_env()), host=host, port=port)


if __name__ == "__main__":
    main()
