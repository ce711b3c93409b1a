"""Three small inline-SVG chart shapes (grouped bars, lines, diverging horizontal bars).

The report must open offline from one file, so charts are drawn here as plain SVG: no script, no CDN.
Every chart is an ``<svg>`` with an ``id``, a ``data-chart`` name and a ``<title>``, so a browser test can
find each one and check it has drawn geometry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 40, 48


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class LineSeries:
    name: str
    points: Sequence[tuple[float, float]]
    color: str
    dashed: bool = False


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(chart_id: str, title: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg id="chart-{escape(chart_id)}" data-chart="{escape(chart_id)}" class="chart" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" class="chart-title">{escape(title)}</text>',
    ]


def _legend(names: Sequence[tuple[str, str, bool]], y: float) -> list[str]:
    parts = []
    x = _LEFT
    for name, color, dashed in names:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{color}" stroke-width="6"{dash}/>'
            f'<text x="{x + 24}" y="{y + 4}" class="legend">{escape(name)}</text>'
        )
        x += 36 + 7 * len(name)
    return parts


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value``, so axis ticks are round numbers."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value - 1e-12:
            return step * power
    return 10 * power


def _y_axis(y_max: float, plot_height: float, fmt: Callable[[float], str], label: str, ticks: int = 5) -> list[str]:
    parts = []
    for i in range(ticks + 1):
        value = y_max * i / ticks
        y = _TOP + plot_height - plot_height * i / ticks
        parts.append(
            f'<line x1="{_LEFT}" y1="{_num(y)}" x2="{WIDTH - _RIGHT}" y2="{_num(y)}" class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{_num(y + 4)}" text-anchor="end" class="tick">{escape(fmt(value))}</text>'
        )
    middle = _TOP + plot_height / 2
    parts.append(
        f'<text x="14" y="{_num(middle)}" transform="rotate(-90 14 {_num(middle)})" text-anchor="middle" '
        f'class="axis-label">{escape(label)}</text>'
    )
    return parts


def grouped_bars(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    y_label: str,
    y_format: Callable[[float], str] = lambda v: _num(v),
    y_max: float | None = None,
    x_label: str = "",
) -> str:
    """Vertical bars, one group per category, one bar per series; ``None`` values draw no bar."""
    plot_width = WIDTH - _LEFT - _RIGHT
    plot_height = HEIGHT - _TOP - _BOTTOM
    top = y_max or nice_max(max([v for s in series for v in s.values if v is not None] + [0.0]))
    parts = _open(chart_id, title)
    parts += _y_axis(top, plot_height, y_format, y_label)
    group = plot_width / max(len(categories), 1)
    bar = group * 0.8 / max(len(series), 1)
    for c, category in enumerate(categories):
        x0 = _LEFT + c * group + group * 0.1
        for s_index, s in enumerate(series):
            value = s.values[c] if c < len(s.values) else None
            if value is None:
                continue
            h = plot_height * min(value, top) / top
            x = x0 + s_index * bar
            parts.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(_TOP + plot_height - h)}" width="{_num(bar - 1)}" '
                f'height="{_num(h)}" fill="{s.color}"><title>{escape(s.name)}, {escape(category)}: '
                f"{escape(y_format(value))}</title></rect>"
            )
        parts.append(
            f'<text x="{_num(x0 + group * 0.4)}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="middle" '
            f'class="tick">{escape(category)}</text>'
        )
    if x_label:
        parts.append(
            f'<text x="{_LEFT + plot_width / 2}" y="{HEIGHT - _BOTTOM + 32}" text-anchor="middle" '
            f'class="axis-label">{escape(x_label)}</text>'
        )
    parts += _legend([(s.name, s.color, s.dashed) for s in series], HEIGHT - 8)
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[LineSeries],
    x_label: str,
    y_label: str,
    x_max: float = 1.0,
    y_max: float = 1.0,
    x_format: Callable[[float], str] = lambda v: _num(v),
    y_format: Callable[[float], str] = lambda v: _num(v),
) -> str:
    """Polylines on axes from 0 to ``x_max`` / ``y_max``."""
    plot_width = WIDTH - _LEFT - _RIGHT
    plot_height = HEIGHT - _TOP - _BOTTOM
    parts = _open(chart_id, title)
    parts += _y_axis(y_max, plot_height, y_format, y_label)
    for i in range(6):
        value = x_max * i / 5
        x = _LEFT + plot_width * i / 5
        parts.append(
            f'<text x="{_num(x)}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="middle" class="tick">'
            f"{escape(x_format(value))}</text>"
        )
    parts.append(
        f'<text x="{_LEFT + plot_width / 2}" y="{HEIGHT - _BOTTOM + 32}" text-anchor="middle" '
        f'class="axis-label">{escape(x_label)}</text>'
    )
    for s in series:
        coords = " ".join(
            f"{_num(_LEFT + plot_width * min(x, x_max) / x_max)},"
            f"{_num(_TOP + plot_height - plot_height * min(y, y_max) / y_max)}"
            for x, y in s.points
        )
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(
            f'<polyline class="line" points="{coords}" fill="none" stroke="{s.color}" stroke-width="2"{dash}>'
            f"<title>{escape(s.name)}</title></polyline>"
        )
    parts += _legend([(s.name, s.color, s.dashed) for s in series], HEIGHT - 8)
    parts.append("</svg>")
    return "\n".join(parts)


def diverging_bars(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], x_label: str = "points"
) -> str:
    """Horizontal bars left (negative) and right (positive) of a zero line, one row per label, values shown."""
    width = 900
    row = 12 * len(series) + 8
    label_width = 330
    height = _TOP + row * max(len(labels), 1) + 44
    plot_left = label_width
    plot_width = width - label_width - _RIGHT - 36
    extreme = max([abs(v) for s in series for v in s.values if v is not None] + [1.0])
    has_negative = any(v is not None and v < 0 for s in series for v in s.values)
    zero = plot_left + (plot_width * 0.5 if has_negative else 28)
    scale = (zero - plot_left - 28 if has_negative else plot_width - 28) / extreme
    parts = [
        f'<svg id="chart-{escape(chart_id)}" data-chart="{escape(chart_id)}" class="chart" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2}" y="20" text-anchor="middle" class="chart-title">{escape(title)}</text>',
        f'<line x1="{_num(zero)}" y1="{_TOP - 4}" x2="{_num(zero)}" y2="{height - 40}" class="axis"/>'
        f'<text x="{_num(zero)}" y="{height - 26}" text-anchor="middle" class="tick">0 {escape(x_label)}</text>',
    ]
    for r, label in enumerate(labels):
        y0 = _TOP + r * row
        short = label if len(label) <= 52 else label[:50] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{_num(y0 + row / 2 + 2)}" text-anchor="end" class="tick">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        for s_index, s in enumerate(series):
            value = s.values[r] if r < len(s.values) else None
            if value is None or value == 0:
                continue
            w = max(abs(value) * scale, 1.0)
            x = zero if value > 0 else zero - w
            y = y0 + 4 + s_index * 12
            end = x + w + 3 if value > 0 else x - 3
            anchor = "start" if value > 0 else "end"
            parts.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" '
                f'height="10" fill="{s.color}"><title>{escape(s.name)}, {escape(label)}: '
                f"{_num(value)}</title></rect>"
                f'<text x="{_num(end)}" y="{_num(y + 9)}" text-anchor="{anchor}" class="value">'
                f"{'+' if value > 0 else ''}{_num(value)}</text>"
            )
    parts += _legend([(s.name, s.color, s.dashed) for s in series], height - 8)
    parts.append("</svg>")
    return "\n".join(parts)
