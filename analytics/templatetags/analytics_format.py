"""Number formats for the dashboard: yen and counts with thousands separators, rates in %."""

from django import template

register = template.Library()


@register.filter
def thousands(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


@register.filter
def yen(value: int | None) -> str:
    return "—" if value is None else f"¥{value:,}"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@register.filter
def decimal2(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
