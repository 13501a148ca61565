"""The LIFF card page: a static shell; the data comes from the API with the LIFF ID token."""

import os

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from membership.models import PREFECTURES, Gender

BUNDLE = "liff/dist/card.js"


def _bundle_version() -> str | None:
    """The bundle's build time (a cache buster), or None when ``npm run build`` never ran."""
    path = finders.find(BUNDLE)
    if not path or isinstance(path, list):
        return None
    return str(int(os.path.getmtime(path)))


@require_GET
def card_page(request: HttpRequest) -> HttpResponse:
    """会員証. Opened through LIFF (``https://liff.line.me/{LIFF_ID}``, optionally with
    ``?store=<code>`` from an in-store poster); in sandbox mode through the chat simulator."""
    sandbox = bool(settings.LINE_SANDBOX and settings.LINE_SANDBOX_ROUTES)
    config = {
        "liffId": settings.LIFF_ID,
        "apiBase": "/api/liff/v1",
        # Sandbox mode: LIFF runs with @line/liff-mock and the sandbox plays LINE Login.
        "sandbox": sandbox,
        "sandboxControl": "/line-sandbox/control" if sandbox else "",
        "linkBonusPoints": settings.LINE_LINK_BONUS_POINTS,
    }
    context = {
        "config": config,
        "configured": bool(settings.LIFF_ID),
        "bundle_version": _bundle_version(),
        "bundle": BUNDLE,
        "prefectures": PREFECTURES,
        # 未回答 first: the form must not answer for the shopper.
        "genders": sorted(Gender.choices, key=lambda choice: choice[0] != ""),
    }
    response = render(request, "liff/card.html", context)
    # The shell is tiny; never let a stale one point at an old bundle.
    response["Cache-Control"] = "no-cache"
    return response
