"""``lifeboat-verifier serve | migrate | openapi``."""

from lifeboat_shared.service.cli import service_cli
from lifeboat_verifier.bootstrap import build

app = service_cli(build)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
