"""``lifeboat-billing serve | migrate | openapi``."""

from lifeboat_billing.bootstrap import build
from lifeboat_shared.service.cli import service_cli

app = service_cli(build)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
