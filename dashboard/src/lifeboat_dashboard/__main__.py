"""`python -m lifeboat_dashboard [port]`: the dashboard alone, API URLs from the environment."""

from __future__ import annotations

import sys

import uvicorn

from lifeboat_dashboard.app import create_app
from lifeboat_dashboard.config import DashboardConfig


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8100
    uvicorn.run(create_app(DashboardConfig.from_env()), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
