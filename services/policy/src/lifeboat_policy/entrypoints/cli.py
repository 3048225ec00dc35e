"""``lifeboat-policy serve | migrate | openapi``."""

from lifeboat_shared.service.cli import service_cli

from lifeboat_policy.bootstrap import build

app = service_cli(build)


def main() -> None:
    app()
