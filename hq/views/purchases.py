"""Purchase data: filtered totals, per store / day / member summaries, a keyset-paged list,
and one purchase with its items and refunds.

Store roles see their own store only: asking for another store in the filter is 403 (as
the CSV exports answer), and another store's purchase detail is 404, so purchase ids of
other stores cannot be probed.
"""

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hq.purchase_filters import MEMBER_KINDS, FilterInvalid, purchase_filter_parse
from hq.roles import HqRole, hq_role_required, request_hq_access
from hq.selectors import (
    member_profile,
    purchase_page,
    purchase_summary,
    purchase_totals,
    purchases_filtered,
)
from hq.selectors import (
    purchase_detail as purchase_detail_get,
)
from pos_bridge.models import Store

ALL_ROLES = tuple(HqRole)
SUMMARIES = {"": "一覧", "store": "店舗別", "day": "日別", "member": "会員別"}


@require_GET
@hq_role_required(*ALL_ROLES)
def purchase_index(request: HttpRequest) -> HttpResponse:
    access = request_hq_access(request)
    stores = Store.objects.all() if access.store is None else [access.store]
    context: dict[str, Any] = {
        "access": access,
        "stores": stores,
        "query": request.GET,
        "member_kinds": MEMBER_KINDS.items(),
        "summaries": SUMMARIES.items(),
    }
    try:
        flt = purchase_filter_parse(request.GET)
    except FilterInvalid as exc:
        return render(
            request, "hq/purchases/index.html", {**context, "errors": exc.messages}, status=400
        )
    if access.store is not None and flt.store_code not in ("", access.store.code):
        return render(
            request,
            "hq/purchases/index.html",
            {**context, "errors": ["他店舗のデータは表示できません。"]},
            status=403,
        )
    by = request.GET.get("by", "")
    if by not in SUMMARIES:
        by = ""
    purchases = purchases_filtered(flt=flt, access=access)
    filter_items = flt.query_string_items()
    if access.store is not None:
        filter_items = [(k, v) for k, v in filter_items if k != "store"]
    try:
        page = purchase_page(purchases=purchases, after=request.GET.get("after", ""))
    except FilterInvalid as exc:
        return render(
            request, "hq/purchases/index.html", {**context, "errors": exc.messages}, status=400
        )
    context |= {
        "flt": flt,
        "by": by,
        "totals": purchase_totals(purchases=purchases),
        "summary": purchase_summary(purchases=purchases, by=by) if by else None,
        "page": page,
        "filter_query": urlencode(filter_items),
        "next_query": urlencode([*filter_items, ("by", by), ("after", page.next_cursor or "")]),
    }
    return render(request, "hq/purchases/index.html", context)


@require_GET
@hq_role_required(*ALL_ROLES)
def purchase_detail(request: HttpRequest, purchase_id: int) -> HttpResponse:
    access = request_hq_access(request)
    purchase = purchase_detail_get(purchase_id=purchase_id, access=access)
    if purchase is None:
        raise Http404("purchase not found")
    profile = None
    if purchase.member is not None:
        profile = member_profile(member=purchase.member, masked=access.masks_personal_data)
    return render(
        request,
        "hq/purchases/detail.html",
        {"access": access, "purchase": purchase, "profile": profile},
    )
