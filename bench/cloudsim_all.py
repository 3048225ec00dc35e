"""All cloudsim benchmarks of the cloudsim issue, one after the other, each printing its table.

  bench/cloudsim_api.py        server creates/s and volume creates/s (goal >= 200/s each)
  bench/cloudsim_inventory.py  inventory of a 1,000-VM project through the driver (goal <= 2 s)
  bench/cloudsim_data.py       snapshot + diff, 2 GiB volume, 1% changed (goal: diff <= 50 ms)

Run: `uv run python bench/cloudsim_all.py` (a few minutes on 2 cores). Not named cloudsim.py:
in bench/ that name would shadow the cloudsim package for the scripts beside it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("cloudsim_api.py", "cloudsim_inventory.py", "cloudsim_data.py")


def main() -> int:
    failed = 0
    for part in PARTS:
        print(f"\n=== {part} ===", flush=True)
        failed |= subprocess.run([sys.executable, str(HERE / part)], check=False).returncode
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
