"""Print the faults table from the JSON lines fault tests wrote (tests/support/faults.py).

    python scripts/faults_table.py REPORT.jsonl [--markdown]

One row per fault, from its latest run in the report: tried / survived / lost and the detail.
Exit status 1 when a fault lost anything or a run did not survive, so a script can act on it;
no report (no fault test ran) prints a line saying so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[0])
    markdown = "--markdown" in argv[1:]
    rows: dict[str, dict[str, object]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            fig = json.loads(line)
            rows[fig["name"]] = {k: fig.get(k, "") for k in ("tried", "survived", "lost", "detail")}
    if not rows:
        print("faults: no fault test reported figures")
        return 0
    bad = False
    if markdown:
        print("| fault | tried | survived | lost | detail |")
        print("|---|---:|---:|---:|---|")
    for name, row in rows.items():
        bad = bad or row["lost"] != 0 or row["survived"] != row["tried"]
        if markdown:
            cells = [name, row["tried"], row["survived"], row["lost"], row["detail"]]
            print("| " + " | ".join(str(c) for c in cells) + " |")
        else:
            figures = f"{row['tried']:>6} tried {row['survived']:>6} survived {row['lost']:>4} lost"
            print(f"{figures}  {name}")
            if row["detail"]:
                print(f"{'':>41}{row['detail']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
