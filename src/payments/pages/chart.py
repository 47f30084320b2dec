"""The referrer's earnings chart as plain geometry for an SVG template: one bar per month, its height the
gross earned, split into what was kept (net) and what refunds and disputes clawed back.

Pure: figures in, rectangles and labels out. Every bar carries its exact figures, so the page can show
them as text and a test can read them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payments.domain.money import Money, exponent

WIDTH = 720
HEIGHT = 260
LEFT = 64  # room for the y-axis labels
RIGHT = 8
TOP = 12
BOTTOM = 36  # room for the month labels
MAX_TICKS = 5


@dataclass(frozen=True, slots=True)
class MonthFigures:
    month: datetime  # first instant of the month, UTC
    gross: int
    clawed_back: int
    net: int


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    full_label: str
    show_label: bool
    minor_label: bool  # every other shown label: phones hide these so larger text never overlaps
    x: float
    width: float
    net_y: float
    net_height: float
    clawed_y: float
    clawed_height: float
    figures: MonthFigures
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    currency: str
    width: int
    height: int
    plot_left: int
    plot_right: int
    baseline: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    total: MonthFigures | None  # the sums over the bars


def nice_step(maximum: int, ticks: int = MAX_TICKS) -> int:
    """The smallest 1, 2 or 5 times a power of ten that covers ``maximum`` in at most ``ticks`` steps."""
    if maximum <= 0:
        return 1
    power = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * power
            if step * ticks >= maximum:
                return step
        power *= 10


def _label_every(count: int) -> int:
    for every in (1, 2, 3, 6, 12):
        if count / every <= 12:
            return every
    return 12


def build(currency: str, months: list[MonthFigures]) -> Chart:
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = float(TOP + plot_height)
    unit = 10 ** exponent(currency)
    # Ticks on whole major units, so the axis reads 0, 20, 40 EUR rather than 0, 2000, 4000 cents.
    top_value = max((m.gross for m in months), default=0)
    step = nice_step(max(top_value, unit), MAX_TICKS)
    step = max(unit, -(-step // unit) * unit)
    scale_max = step * max(1, -(-top_value // step))
    ticks = tuple(
        Tick(baseline - plot_height * (v / scale_max), Money(v, currency).format().rsplit(" ", 1)[0])
        for v in range(0, scale_max + 1, step)
    )
    slot = plot_width / max(1, len(months))
    bar_width = min(56.0, slot * 0.7)
    every = _label_every(len(months))
    bars = []
    for index, m in enumerate(months):
        x = LEFT + slot * index + (slot - bar_width) / 2
        net_height = plot_height * max(0, m.net) / scale_max
        clawed_height = plot_height * max(0, m.clawed_back) / scale_max
        net_y = baseline - net_height
        bars.append(
            Bar(
                label=m.month.strftime("%b" if len(months) <= 12 else "%b %y"),
                full_label=m.month.strftime("%B %Y"),
                show_label=index % every == 0,
                minor_label=(index // every) % 2 == 1,
                x=round(x, 2),
                width=round(bar_width, 2),
                net_y=round(net_y, 2),
                net_height=round(net_height, 2),
                clawed_y=round(net_y - clawed_height, 2),
                clawed_height=round(clawed_height, 2),
                figures=m,
                title=(
                    f"{m.month.strftime('%B %Y')}: gross {Money(m.gross, currency).format()}, "
                    f"clawed back {Money(m.clawed_back, currency).format()}, "
                    f"net {Money(m.net, currency).format()}"
                ),
            )
        )
    total = (
        MonthFigures(
            months[0].month,
            sum(m.gross for m in months),
            sum(m.clawed_back for m in months),
            sum(m.net for m in months),
        )
        if months
        else None
    )
    return Chart(currency, WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, baseline, tuple(bars), ticks, total)
