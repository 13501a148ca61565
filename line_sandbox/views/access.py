"""``{LINE_ACCESS_BASE_URL}/dialog/bot/accountLink``: LINE's account link dialog."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from line_sandbox import services


@require_GET
def account_link_dialog(request: HttpRequest) -> HttpResponse:
    """Consume the link token and send the ``accountLink`` webhook, then say how it went.

    A missing token or a nonce outside 10–255 characters is refused before anything happens
    (https://developers.line.biz/en/docs/messaging-api/linking-accounts/).
    """
    link_token = request.GET.get("linkToken", "")
    nonce = request.GET.get("nonce", "")
    simulator_url = reverse("line_sandbox:simulator")
    if not link_token or not services.NONCE_MIN_LENGTH <= len(nonce) <= services.NONCE_MAX_LENGTH:
        context = {
            "ok": False,
            "reason": "リクエストが正しくありません"
            "（linkToken と 10〜255文字の nonce が必要です）。",
            "simulator_url": simulator_url,
        }
        return render(request, "line_sandbox/account_link.html", context, status=400)
    outcome = services.account_link_complete(link_token, nonce)
    if outcome.user is not None:
        simulator_url += f"?user={outcome.user.user_id}"
    context = {
        "ok": outcome.ok,
        "reason": "" if outcome.ok else "連携トークンが無効か、期限切れか、使用済みです。",
        "webhook_status": outcome.webhook_status,
        "simulator_url": simulator_url,
    }
    return render(request, "line_sandbox/account_link.html", context)
