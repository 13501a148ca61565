"""HQ pages outside the admin. Every view names the roles it admits (``hq.roles``)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from hq.roles import HqRole, hq_role_required, request_hq_access
from hq.services.exports import EXPORTS, ExportFilter, ExportFilterInvalid, export_csv_chunks
from hq.services.posters import LiffNotConfigured, poster_liff_url, poster_qr_png, poster_qr_svg
from pos_bridge.models import Store

HQ_READERS = (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST)
EXPORTERS = (*HQ_READERS, HqRole.STORE_MANAGER)


@require_GET
@hq_role_required(*HQ_READERS)
def store_index(request: HttpRequest) -> HttpResponse:
    return render(request, "hq/store_index.html", {"stores": Store.objects.all()})


@require_GET
@hq_role_required(*HQ_READERS)
def store_poster(request: HttpRequest, code: str) -> HttpResponse:
    """A printable A4 poster whose QR opens the LIFF card tagged with this store."""
    store = get_object_or_404(Store, code=code)
    context = {"store": store, "bonus_points": settings.LINE_LINK_BONUS_POINTS}
    try:
        url = poster_liff_url(store_code=store.code)
    except LiffNotConfigured as exc:
        return render(request, "hq/poster.html", {**context, "error": exc.message}, status=503)
    # The SVG is made by qrcode from our own URL: path data only, no user text.
    qr_svg = mark_safe(poster_qr_svg(text=url))  # noqa: S308
    return render(request, "hq/poster.html", {**context, "liff_url": url, "qr_svg": qr_svg})


@require_GET
@hq_role_required(*HQ_READERS)
def store_poster_png(request: HttpRequest, code: str) -> HttpResponse:
    """The poster's QR code alone as a PNG (for flyers, POP and print shops)."""
    store = get_object_or_404(Store, code=code)
    try:
        url = poster_liff_url(store_code=store.code)
    except LiffNotConfigured as exc:
        return HttpResponse(
            exc.message, status=exc.status, content_type="text/plain; charset=utf-8"
        )
    response = HttpResponse(poster_qr_png(text=url), content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="poster-qr-{store.code}.png"'
    return response


@require_GET
@hq_role_required(*EXPORTERS)
def export_index(request: HttpRequest) -> HttpResponse:
    """Links to the CSV exports with date and store filters; store managers see their store."""
    access = request_hq_access(request)
    stores = Store.objects.all() if access.store is None else [access.store]
    kinds = [
        (kind, spec.label) for kind, spec in EXPORTS.items() if access.is_hq or not spec.hq_only
    ]
    return render(
        request,
        "hq/export_index.html",
        {"access": access, "stores": stores, "kinds": kinds, "query": request.GET},
    )


@require_GET
@hq_role_required(*EXPORTERS)
def export_csv(request: HttpRequest, kind: str) -> HttpResponseBase:
    """A streaming CSV (UTF-8 with BOM); store managers get their own store's sales only."""
    spec = EXPORTS.get(kind)
    if spec is None:
        return HttpResponse("unknown export", status=404, content_type="text/plain; charset=utf-8")
    access = request_hq_access(request)
    if spec.hq_only and not access.is_hq:
        return HttpResponse(
            "本部のみ出力できます", status=403, content_type="text/plain; charset=utf-8"
        )
    try:
        flt = ExportFilter.from_query(request.GET)
    except ExportFilterInvalid as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    if access.store is not None and flt.store_code not in ("", access.store.code):
        return HttpResponse(
            "他店舗のデータは出力できません", status=403, content_type="text/plain; charset=utf-8"
        )
    response = StreamingHttpResponse(
        export_csv_chunks(kind=kind, flt=flt, access=access),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{kind}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
