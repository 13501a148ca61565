"""The HQ dashboard (/hq/). Reads roll-ups only; see ``analytics.selectors``."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from analytics.charts import dashboard_chart_data
from analytics.filters import DEFAULT_DAYS, DashboardFilterInvalid, dashboard_filter_from_query
from analytics.selectors import LINK_SOURCES, dashboard_get
from hq.roles import HqRole, hq_role_required, request_hq_access
from pos_bridge.models import Store

DASHBOARD_ROLES = (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST, HqRole.STORE_MANAGER)


@require_GET
@hq_role_required(*DASHBOARD_ROLES)
def dashboard(request: HttpRequest) -> HttpResponse:
    access = request_hq_access(request)
    context: dict[str, Any] = {
        "access": access,
        "stores": Store.objects.all() if access.store is None else [access.store],
        "query": request.GET,
        "default_days": DEFAULT_DAYS,
    }
    try:
        flt = dashboard_filter_from_query(
            query=request.GET, access=access, today=timezone.localdate()
        )
    except DashboardFilterInvalid as exc:
        context["error"] = exc.message
        return render(request, "analytics/dashboard.html", context, status=exc.status)
    board = dashboard_get(flt=flt)
    context.update(
        board=board,
        flt=flt,
        link_sources=LINK_SOURCES,
        charts=dashboard_chart_data(board),
    )
    return render(request, "analytics/dashboard.html", context)
