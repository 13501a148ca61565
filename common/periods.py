"""A period of local calendar days read from a query string, and its bounds in time.

One place for the date filters of the HQ pages and exports, so that "to 30 November" means
the same everywhere: the whole of that day in ``TIME_ZONE``.
"""

import datetime
from typing import Any

from django.utils import timezone


class PeriodInvalid(ValueError):
    """A bad date or an inverted period; the message is for the page (Japanese)."""


def query_day(query: Any, name: str, *, label: str) -> datetime.date | None:
    """The optional ``YYYY-MM-DD`` parameter ``name``; raises ``PeriodInvalid``."""
    raw = (query.get(name) or "").strip()
    if not raw:
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError as exc:
        raise PeriodInvalid(f"{label}は YYYY-MM-DD の形式で入力してください") from exc


def query_period(query: Any) -> tuple[datetime.date | None, datetime.date | None]:
    """``?from=&to=``, both ends optional and included; raises ``PeriodInvalid``."""
    date_from = query_day(query, "from", label="開始日")
    date_to = query_day(query, "to", label="終了日")
    if date_from and date_to and date_from > date_to:
        raise PeriodInvalid("開始日は終了日以前の日付にしてください")
    return date_from, date_to


def day_bounds(
    date_from: datetime.date | None, date_to: datetime.date | None
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """[start, end) as aware datetimes: the start of the first day, the start of the day
    after the last one (None where the period is open)."""
    start = end = None
    if date_from:
        start = timezone.make_aware(datetime.datetime.combine(date_from, datetime.time.min))
    if date_to:
        next_day = date_to + datetime.timedelta(days=1)
        end = timezone.make_aware(datetime.datetime.combine(next_day, datetime.time.min))
    return start, end
