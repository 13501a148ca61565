"""The numbers the dashboard's charts draw, as plain JSON for ``json_script``.

The same figures are in the page's tables; the charts only make them easier to see.
"""

from typing import Any

from analytics.selectors import LINK_SOURCES, Dashboard


def dashboard_chart_data(board: Dashboard) -> dict[str, Any]:
    days = [d.isoformat() for d in board.flt.days]
    charts: dict[str, Any] = {
        "sales": {
            "labels": days,
            "net": [d.totals.net for d in board.sales_by_day],
            "linked": [d.totals.linked_net for d in board.sales_by_day],
            "purchases": [d.totals.purchases for d in board.sales_by_day],
        },
        "links": {
            "labels": days,
            "series": [
                {"label": label, "data": [d.by_source[source] for d in board.links_by_day]}
                for source, label in LINK_SOURCES
            ],
        },
        "stores": {
            "labels": [s.store.name for s in board.sales_by_store[:20]],
            "net": [s.totals.net for s in board.sales_by_store[:20]],
        },
    }
    if board.members is not None:
        charts["tiers"] = {
            "labels": [t.name for t in board.members.tiers],
            "members": [t.members for t in board.members.tiers],
        }
    return charts
