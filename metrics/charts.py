"""Charts drawn on the server as SVG geometry (no JavaScript, nothing downloaded): stacked
columns, positive values up from zero and negative ones down, with an optional line (the net
movement). Every column segment carries the address of the rows behind it."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 58, 8, 10, 26
MAX_BAR = 48


@dataclass(frozen=True)
class Segment:
    value: int
    css: str
    href: str
    title: str


@dataclass(frozen=True)
class Column:
    label: str
    segments: Sequence[Segment]
    line: int | None = None


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    href: str
    title: str


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    rects: list[Rect] = field(default_factory=list)
    line: str = ""
    line_dots: list[tuple[float, float, str]] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    zero_y: float = 0.0
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    label_y: int = HEIGHT - 8


def stacked(columns: Sequence[Column], *, title: str, fmt: Callable[[int], str] = str) -> Chart:
    """Geometry for ``columns``: each column's positive segments stacked upwards from the
    zero line in order, its negative ones downwards, and the line through the columns'
    ``line`` values."""
    chart = Chart(title=title)
    if not columns:
        return chart
    tops = [sum(s.value for s in c.segments if s.value > 0) for c in columns]
    bottoms = [sum(s.value for s in c.segments if s.value < 0) for c in columns]
    lines = [c.line for c in columns if c.line is not None]
    high = max([0, *tops, *lines])
    low = min([0, *bottoms, *lines])
    if high == low:
        high = 1
    plot_height = HEIGHT - TOP - BOTTOM
    plot_width = WIDTH - LEFT - RIGHT

    def y(value: int) -> float:
        return round(TOP + (high - value) / (high - low) * plot_height, 2)

    chart.zero_y = y(0)
    slot = plot_width / len(columns)
    bar = min(max(slot * 0.64, 1.0), MAX_BAR)
    step = math.ceil(len(columns) / 8)
    points = []
    for index, column in enumerate(columns):
        x = LEFT + index * slot + (slot - bar) / 2
        up = down = 0
        for segment in column.segments:
            if segment.value == 0:
                continue
            if segment.value > 0:
                top, bottom = up + segment.value, up
                up = top
            else:
                top, bottom = down, down + segment.value
                down = bottom
            chart.rects.append(
                Rect(
                    x=round(x, 2),
                    y=y(top),
                    width=round(bar, 2),
                    height=max(round(y(bottom) - y(top), 2), 0.5),
                    css=segment.css,
                    href=segment.href,
                    title=segment.title,
                )
            )
        centre = round(x + bar / 2, 2)
        if column.line is not None:
            points.append(f"{centre},{y(column.line)}")
            chart.line_dots.append((centre, y(column.line), f"{column.label}: {fmt(column.line)}"))
        if index % step == 0:
            chart.labels.append((centre, column.label))
    chart.line = " ".join(points)
    chart.ticks = [(y(high), fmt(high)), (y(low), fmt(low))]
    if low < 0 < high:
        chart.ticks.append((chart.zero_y, fmt(0)))
    return chart
