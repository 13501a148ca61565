from django import template

register = template.Library()


@register.filter
def yen(value: object) -> str:
    """``12800`` → ``12,800``: amounts read at a glance at the till."""
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)
