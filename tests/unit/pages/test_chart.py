"""The earnings chart's geometry: real figures on every bar, an axis that reads, 1 to 36 months."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from payments.pages.chart import HEIGHT, TOP, MonthFigures, build, nice_step
from payments.pages.referrer.period import add_months

START = datetime(2024, 1, 1, tzinfo=UTC)


def _months(figures: list[tuple[int, int]]) -> list[MonthFigures]:
    return [MonthFigures(add_months(START, i), g, c, g - c) for i, (g, c) in enumerate(figures)]


def test_nice_steps() -> None:
    assert [nice_step(v) for v in (0, 1, 5, 6, 99, 100, 101, 4_999, 12_345)] == [
        1,
        1,
        1,
        2,
        20,
        20,
        50,
        1000,
        5000,
    ]


def test_one_month_is_one_labelled_bar_with_its_figures() -> None:
    chart = build("eur", _months([(1_250, 250)]))
    (bar,) = chart.bars
    assert bar.show_label and bar.label == "Jan" and bar.full_label == "January 2024"
    assert (bar.figures.gross, bar.figures.clawed_back, bar.figures.net) == (1_250, 250, 1_000)
    assert bar.title == "January 2024: gross 12.50 EUR, clawed back 2.50 EUR, net 10.00 EUR"
    assert bar.width <= 56  # one bar does not fill the whole plot
    assert [t.label for t in chart.ticks] == ["0.00", "5.00", "10.00", "15.00"]


def test_thirty_six_months_label_every_third_and_name_the_year() -> None:
    chart = build("eur", _months([(100 * i, 0) for i in range(36)]))
    shown = [b.label for b in chart.bars if b.show_label]
    assert len(chart.bars) == 36 and len(shown) == 12
    assert shown[:2] == ["Jan 24", "Apr 24"]
    assert all(b.x + b.width <= chart.plot_right for b in chart.bars)


def test_zero_decimal_currency_ticks_are_whole_yen() -> None:
    chart = build("jpy", _months([(12_345, 0)]))
    assert [t.label for t in chart.ticks][-1] == "15000"


def test_an_empty_period_draws_an_axis_and_no_totals() -> None:
    chart = build("eur", [])
    assert chart.bars == () and chart.total is None and chart.ticks


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 100)), min_size=1, max_size=36))
def test_bars_stay_inside_the_plot_and_are_proportional(raw: list[tuple[int, int]]) -> None:
    figures = [(g, g * pct // 100) for g, pct in raw]
    chart = build("eur", _months(figures))
    top = max(b.clawed_y for b in chart.bars)
    assert min(b.clawed_y for b in chart.bars) >= TOP - 0.01 and top <= HEIGHT
    for bar in chart.bars:
        assert abs(bar.net_y + bar.net_height - chart.baseline) < 0.02
        assert abs(bar.clawed_y + bar.clawed_height - bar.net_y) < 0.02
    assert chart.total is not None and chart.total.gross == sum(g for g, _ in figures)
