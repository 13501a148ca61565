"""HQ pages outside the admin. HQ staff only (``is_staff``); others go to the admin login."""

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from hq.services.posters import LiffNotConfigured, poster_liff_url, poster_qr_png, poster_qr_svg
from pos_bridge.models import Store


@require_GET
@staff_member_required
def store_index(request: HttpRequest) -> HttpResponse:
    return render(request, "hq/store_index.html", {"stores": Store.objects.all()})


@require_GET
@staff_member_required
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
@staff_member_required
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
