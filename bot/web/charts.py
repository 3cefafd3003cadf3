"""Charts drawn on the server as SVG: nothing to download, nothing for a slow county link to
fetch, and readable without JavaScript. Lines (a market's price), bands (a range around a
median) and bars (messages per day)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

PALETTE = ("#1f6f43", "#c2571a", "#2a5db0", "#8a3ea8", "#8c6d1f", "#b0304a")
W, H = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 30


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]  # (x, y)
    color: str = ""


@dataclass
class Band:
    label: str
    points: list[tuple[float, float, float]]  # (x, low, high)
    color: str = "#c2571a"


@dataclass
class Chart:
    title: str
    x_labels: list[tuple[float, str]]  # where to write which label on the x axis
    x_range: tuple[float, float]
    lines: list[Series] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    bars: list[Series] = field(default_factory=list)  # side by side at each x
    y_format: Callable[[float], str] = lambda v: f"{v:g}"


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * step:
            step *= m
            break
    start = math.floor(low / step) * step
    ticks: list[float] = []
    v = start
    while v <= high + step * 0.5 and len(ticks) < 12:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _y_bounds(chart: Chart) -> tuple[float, float]:
    ys = [y for s in chart.lines for _, y in s.points]
    ys += [v for b in chart.bands for _, lo, hi in b.points for v in (lo, hi)]
    ys += [y for s in chart.bars for _, y in s.points]
    if not ys:
        return 0.0, 1.0
    low, high = min(ys), max(ys)
    if chart.bars:
        low = 0.0
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    return (low if chart.bars else max(0.0, low - pad)), high + pad


def render(chart: Chart) -> Markup:
    """The chart as an <svg> element (with role=img and a title for screen readers)."""
    x0, x1 = chart.x_range
    if x1 <= x0:
        x1 = x0 + 1
    ticks = _nice_ticks(*_y_bounds(chart))
    y0, y1 = ticks[0], ticks[-1]
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return TOP + ph - (y - y0) / ((y1 - y0) or 1) * ph

    out = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
    ]
    for v in ticks:
        y = sy(v)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(chart.y_format(v))}</text>"
        )
    for x, label in chart.x_labels:
        out.append(
            f'<text class="tick" x="{sx(x):.1f}" y="{H - 10}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    legend: list[tuple[str, str, str]] = []
    for band in chart.bands:
        edge = sorted(band.points)
        if edge:
            upper = " ".join(f"{sx(x):.1f},{sy(hi):.1f}" for x, _, hi in edge)
            lower = " ".join(f"{sx(x):.1f},{sy(lo):.1f}" for x, lo, _ in reversed(edge))
            out.append(
                f'<polygon class="band" data-series="{escape(band.label)}" '
                f'points="{upper} {lower}" fill="{band.color}" fill-opacity="0.18"/>'
            )
            legend.append((band.label, band.color, "band"))
    if chart.bars:
        n = len(chart.bars)
        slot = pw / max(1.0, x1 - x0) * 0.8
        width = max(1.0, slot / n)
        for i, series in enumerate(chart.bars):
            color = series.color or PALETTE[i % len(PALETTE)]
            for x, y in series.points:
                left = sx(x) - slot / 2 + i * width
                top = sy(y)
                out.append(
                    f'<rect class="bar" data-series="{escape(series.label)}" x="{left:.1f}" '
                    f'y="{top:.1f}" width="{width:.1f}" height="{sy(y0) - top:.1f}" '
                    f'fill="{color}"><title>{escape(series.label)}: {y:g}</title></rect>'
                )
            legend.append((series.label, color, "bar"))
    for i, series in enumerate(chart.lines):
        color = series.color or PALETTE[i % len(PALETTE)]
        pts = sorted(series.points)
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        if len(pts) > 1:
            out.append(
                f'<polyline class="line" data-series="{escape(series.label)}" points="{path}" '
                f'fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for x, y in pts:
            out.append(
                f'<circle class="point" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}">'
                f"<title>{escape(series.label)}: {escape(chart.y_format(y))}</title></circle>"
            )
        legend.append((series.label, color, "line"))
    lx = LEFT
    for label, color, _ in legend:
        out.append(f'<rect x="{lx}" y="8" width="12" height="12" fill="{color}"/>')
        out.append(f'<text class="legend" x="{lx + 16}" y="18">{escape(label)}</text>')
        lx += 28 + 7 * _width(label)
    if not legend:
        out.append(f'<text class="tick" x="{W / 2}" y="{H / 2}" text-anchor="middle">–</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _width(label: str) -> int:
    """Roughly how many narrow characters wide a label is (a Chinese character is two)."""
    return sum(2 if ord(c) > 0x2E80 else 1 for c in label)


def day_labels(
    days: Sequence[int], label: Callable[[int], str], every: int
) -> list[tuple[float, str]]:
    return [(d, label(d)) for i, d in enumerate(days) if i % every == 0]
