"""Figures for people: shares as percentages, ratios, durations, and a month's kind label."""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()


@register.filter
def percent(value: object) -> str:
    """0.9375 → "93.8%"; nothing → "—"."""
    if not isinstance(value, Decimal | int):
        return "—"
    return f"{(Decimal(value) * 100).quantize(Decimal('0.1'), ROUND_HALF_UP):,}%"


@register.filter
def times(value: object) -> str:
    """A ratio such as the quick ratio: 2.5 → "2.5" followed by a times sign; nothing → "—"."""
    if not isinstance(value, Decimal | int):
        return "—"
    return f"{Decimal(value).quantize(Decimal('0.01'), ROUND_HALF_UP).normalize():f}\u00d7"


@register.filter
def decimal2(value: object) -> str:
    if not isinstance(value, Decimal | int):
        return "—"
    return f"{Decimal(value).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


@register.filter
def duration(value: object) -> str:
    """3 days 4 h, 5 h 20 min, 12 min; nothing → "—"."""
    if not isinstance(value, timedelta):
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        unit = "day" if days == 1 else "days"
        return f"{days} {unit} {hours} h" if hours else f"{days} {unit}"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


@register.filter
def negate(value: int) -> int:
    return -value


@register.filter
def rate(value: object) -> str:
    """An exchange rate without trailing zeros or an exponent: 1.08, 160, 0.0067."""
    if not isinstance(value, Decimal):
        return ""
    return f"{value.normalize():f}"
