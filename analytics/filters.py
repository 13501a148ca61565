"""The dashboard's query string (?from=YYYY-MM-DD&to=YYYY-MM-DD&store=code) → a filter."""

import datetime
from collections.abc import Mapping

from analytics.selectors import DashboardFilter
from common.periods import PeriodInvalid, query_period
from hq.roles import HqAccess
from pos_bridge.models import Store

DEFAULT_DAYS = 30
# About two years of days: the charts stay readable and the page small.
MAX_DAYS = 750


class DashboardFilterInvalid(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DashboardStoreForbidden(DashboardFilterInvalid):
    status = 403


def dashboard_filter_from_query(
    *, query: Mapping[str, str], access: HqAccess, today: datetime.date
) -> DashboardFilter:
    """The range (default: the last 30 days up to today) and store a request asks for.

    A store role always gets its own store; asking for another one raises
    ``DashboardStoreForbidden``. Bad dates or an unknown store raise
    ``DashboardFilterInvalid`` with a message for the page.
    """
    try:
        date_from, date_to = query_period(query)
    except PeriodInvalid as exc:
        raise DashboardFilterInvalid(str(exc)) from exc
    date_to = date_to or today
    date_from = date_from or date_to - datetime.timedelta(days=DEFAULT_DAYS - 1)
    if date_from > date_to:
        raise DashboardFilterInvalid("開始日は終了日以前の日付にしてください")
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise DashboardFilterInvalid(f"期間は{MAX_DAYS}日以内で指定してください")
    code = (query.get("store") or "").strip()
    if access.store is not None:
        if code and code != access.store.code:
            raise DashboardStoreForbidden("他店舗のデータは表示できません")
        return DashboardFilter(date_from=date_from, date_to=date_to, store=access.store)
    if not code:
        return DashboardFilter(date_from=date_from, date_to=date_to)
    store = Store.objects.filter(code=code).first()
    if store is None:
        raise DashboardFilterInvalid(f"店舗コード「{code[:32]}」の店舗はありません")
    return DashboardFilter(date_from=date_from, date_to=date_to, store=store)
