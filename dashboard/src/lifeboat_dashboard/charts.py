"""Achieved RPO over time, from a group's consistency-point history, as a server-rendered SVG.

At any moment the achieved RPO is the age of the newest CP already at the DR site: it drops when
a CP arrives (its created_at) to that CP's lag (created_at - taken_at) and grows until the next
one. Each peak above the target is a breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 180, 48, 22, 10, 10


@dataclass(frozen=True)
class RpoSeries:
    points: list[tuple[float, float]]  # (unix time, achieved RPO seconds)
    peaks: list[tuple[float, float]]  # the sawtooth's tops (just before a CP arrived, and now)
    breaches: int


def _ts(value: str) -> float:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def rpo_series(cps: list[dict[str, Any]], target: float, now: float) -> RpoSeries:
    ordered = sorted(cps, key=lambda c: _ts(c["created_at"]))
    points: list[tuple[float, float]] = []
    peaks: list[tuple[float, float]] = []
    prev_taken: float | None = None
    for cp in ordered:
        arrived, taken = _ts(cp["created_at"]), _ts(cp["taken_at"])
        if prev_taken is not None:
            peak = (arrived, arrived - prev_taken)
            points.append(peak)
            peaks.append(peak)
        points.append((arrived, max(arrived - taken, 0.0)))
        prev_taken = taken if prev_taken is None else max(prev_taken, taken)
    if prev_taken is not None:
        now_point = (now, now - prev_taken)
        points.append(now_point)
        peaks.append(now_point)
    return RpoSeries(points, peaks, sum(1 for _, v in peaks if v > target))


def rpo_chart(series: RpoSeries, target: float, label: str) -> Markup:
    """An SVG: the achieved RPO (line), the target (dashed), breaches (red dots)."""
    title = escape(label)
    if not series.points:
        return Markup(
            f'<svg class="chart" viewBox="0 0 {W} 40" role="img" aria-label="{title}">'
            f'<text x="8" y="24" class="muted">no consistency point yet</text></svg>'
        )
    t0, t1 = series.points[0][0], series.points[-1][0]
    span = max(t1 - t0, 1.0)
    top = max(max(v for _, v in series.points), target) * 1.15 or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(t: float) -> float:
        return PAD_L + (t - t0) / span * plot_w

    def y(v: float) -> float:
        return PAD_T + plot_h - v / top * plot_h

    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in series.points)
    dots = "".join(
        f'<circle class="breach" cx="{x(t):.1f}" cy="{y(v):.1f}" r="3.5"/>'
        for t, v in series.peaks
        if v > target
    )
    start = datetime.fromtimestamp(t0, UTC).strftime("%H:%M:%S")
    end = datetime.fromtimestamp(t1, UTC).strftime("%H:%M:%S")
    return Markup(
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{title}">'
        f"<title>{title}</title>"
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{W - PAD_R}" '
        f'y2="{PAD_T + plot_h}"/>'
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + plot_h}"/>'
        f'<line class="target" x1="{PAD_L}" y1="{y(target):.1f}" x2="{W - PAD_R}" '
        f'y2="{y(target):.1f}"/>'
        f'<text class="tick" x="{PAD_L - 4}" y="{y(target) + 4:.1f}" text-anchor="end">'
        f"{target:g}s</text>"
        f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + 8}" text-anchor="end">{top:.0f}s</text>'
        f'<text class="tick" x="{PAD_L}" y="{H - 6}">{start} UTC</text>'
        f'<text class="tick" x="{W - PAD_R}" y="{H - 6}" text-anchor="end">{end} UTC</text>'
        f'<polyline class="rpo" points="{line}"/>{dots}</svg>'
    )
