"""``lifeboat-replicator serve | migrate | openapi | receiver``."""

from lifeboat_replicator.bootstrap import build
from lifeboat_replicator.entrypoints.receiver import receiver
from lifeboat_shared.service.cli import service_cli

app = service_cli(build)
app.command()(receiver)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
