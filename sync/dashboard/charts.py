"""Inline SVG charts: no script, no library; the page carries the drawing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape


def score_chart(points: Sequence[tuple[datetime, float]], *, width: int = 640, height: int = 200) -> Markup:
    """A line of score over time with its points marked; a sentence instead when there is nothing to draw."""
    if not points:
        return Markup('<p class="muted">No score written yet.</p>')
    pad_left, pad, top = 40, 12, 12
    times = [t.timestamp() for t, _ in points]
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 1.0
    high = max(100.0, *(v for _, v in points))
    plot_w, plot_h = width - pad_left - pad, height - top - 28

    def xy(t: float, v: float) -> tuple[float, float]:
        x = pad_left + (plot_w * (t - t0) / span if len(points) > 1 else plot_w / 2)
        return round(x, 1), round(top + plot_h * (1 - v / high), 1)

    coords = [xy(t, v) for t, (_, v) in zip(times, points, strict=True)]
    parts = [
        f'<svg class="chart" data-chart="score" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" xmlns="http://www.w3.org/2000/svg">',
        f"<title>Score over time, {len(points)} value(s)</title>",
    ]
    for tick in (0, 25, 50, 75, 100):
        _, y = xy(t0, tick)
        parts.append(f'<line class="grid" x1="{pad_left}" x2="{width - pad}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text x="{pad_left - 6}" y="{y + 4}" text-anchor="end">{tick}</text>')
    parts.append(f'<polyline class="line" points="{" ".join(f"{x},{y}" for x, y in coords)}"/>')
    for (x, y), (when, value) in zip(coords, points, strict=True):
        label = escape(f"{value:g} on {when:%Y-%m-%d %H:%M} UTC")
        parts.append(f'<circle class="dot" cx="{x}" cy="{y}" r="4"><title>{label}</title></circle>')
    parts.append(f'<text x="{pad_left}" y="{height - 8}">{points[0][0]:%Y-%m-%d}</text>')
    parts.append(f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">{points[-1][0]:%Y-%m-%d}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and dates only; the one text, the label, is escaped
