"""The HQ audit log viewer: HQ admin and analyst read it (analysts with personal values
masked); store roles are refused."""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.models import AuditAction
from audit.selectors import (
    AuditFilterInvalid,
    audit_changes,
    audit_entries,
    audit_filter_parse,
    audit_target_types,
)
from hq.roles import HqRole, hq_role_required, request_hq_access


@require_GET
@hq_role_required(HqRole.HQ_ADMIN, HqRole.HQ_ANALYST)
def audit_index(request: HttpRequest) -> HttpResponse:
    access = request_hq_access(request)
    context = {
        "query": request.GET,
        "actions": AuditAction.choices,
        "target_types": audit_target_types(),
    }
    try:
        flt = audit_filter_parse(request.GET)
    except AuditFilterInvalid as exc:
        return render(request, "audit/index.html", {**context, "errors": exc.messages}, status=400)
    page = audit_entries(flt=flt)
    rows = [
        (entry, audit_changes(entry=entry, masked=access.masks_personal_data))
        for entry in page.entries
    ]
    keep = [(k, v) for k, v in request.GET.items() if k != "before" and v]
    next_query = urlencode([*keep, ("before", page.next_before)]) if page.next_before else ""
    return render(request, "audit/index.html", {**context, "rows": rows, "next_query": next_query})
