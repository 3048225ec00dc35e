"""``lifeboat-billing serve | migrate | openapi``."""

from lifeboat_shared.service.cli import service_cli

from lifeboat_billing.bootstrap import build

app = service_cli(build)


def main() -> None:
    app()
