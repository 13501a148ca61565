"""Number formatting for HQ pages (points and yen are integers: 1,234)."""

from django import template

register = template.Library()


@register.filter
def num(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


@register.filter
def signed(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:+,}"
    return "" if value is None else str(value)
