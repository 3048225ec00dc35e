"""Entry point: `python -m lifeboat_replicator.datamover.receiver --listen HOST:PORT ...`.

See `server.main` for the options; prints "listening on HOST:PORT", serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import sys

from .server import Receiver, main

__all__ = ["Receiver", "main"]

if __name__ == "__main__":
    sys.exit(main())
