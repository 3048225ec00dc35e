"""Figures for the faults table: each fault test says how many times it tried the fault, how many
runs survived it and how much was lost.

A test calls `record_fault` once it has its figures (before its assertions, so a failing run is
reported too). The line goes to the file named by LIFEBOAT_FAULTS_REPORT, one JSON object a line,
appended; without the variable nothing is written, so an ordinary test run leaves no file behind.
The script that prints the table reads those lines.
"""

from __future__ import annotations

import json
import os
import time

REPORT_ENV = "LIFEBOAT_FAULTS_REPORT"


def record_fault(name: str, tried: int, survived: int, lost: int, detail: str = "") -> None:
    """Append one fault figure to the report file, if one was asked for."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    line = json.dumps(
        {
            "name": name,
            "tried": tried,
            "survived": survived,
            "lost": lost,
            "detail": detail,
            "recorded_at": time.time(),
        },
        sort_keys=True,
    )
    # One write of a whole line in append mode: lines from parallel tests do not interleave.
    with open(path, "a", encoding="utf-8") as report:
        report.write(line + "\n")
