"""HTTP entry points: the LINE webhook and the account-link page."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from common.errors import ApplicationError
from line_messaging.forms import ExistingMemberForm, RegistrationForm
from line_messaging.services.linking import (
    LinkTokenInvalid,
    link_prepare,
    link_token_owner,
    member_verify,
)
from line_messaging.services.webhook import webhook_receive
from membership.services.members import member_register


@csrf_exempt  # LINE signs the body instead (X-Line-Signature)
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    try:
        webhook_receive(body=request.body, signature=request.headers.get("X-Line-Signature"))
    except ApplicationError as exc:
        return JsonResponse(exc.body(), status=exc.status)
    return JsonResponse({})


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


@require_http_methods(["GET", "POST"])
def link_page(request: HttpRequest) -> HttpResponse:
    """会員連携: prove an existing card (number + birth date) or register, then go to LINE."""
    link_token = request.GET.get("linkToken") or request.POST.get("link_token") or ""
    try:
        link_token_owner(link_token)
    except LinkTokenInvalid as exc:
        return render(
            request, "line_messaging/link_error.html", {"message": exc.message}, status=400
        )
    existing = ExistingMemberForm(prefix="existing")
    registration = RegistrationForm(prefix="register")
    error = ""
    mode = request.POST.get("mode") or request.GET.get("mode") or "existing"
    if request.method == "POST":
        try:
            if mode == "register":
                registration = RegistrationForm(request.POST, prefix="register")
                if registration.is_valid():
                    data = registration.cleaned_data
                    # A registration that cannot be linked is not kept: one transaction.
                    with transaction.atomic():
                        member = member_register(
                            birth_date=data["birth_date"],
                            name=data["name"],
                            name_kana=data["name_kana"],
                            gender=data["gender"],
                            prefecture=data["prefecture"],
                        )
                        prepared = link_prepare(link_token=link_token, member=member)
                    return HttpResponseRedirect(prepared.redirect_url)
            else:
                existing = ExistingMemberForm(request.POST, prefix="existing")
                if existing.is_valid():
                    member = member_verify(
                        card_number=existing.cleaned_data["card_number"],
                        birth_date=existing.cleaned_data["birth_date"],
                        link_token=link_token,
                        ip=_client_ip(request),
                    )
                    return HttpResponseRedirect(
                        link_prepare(link_token=link_token, member=member).redirect_url
                    )
        except ApplicationError as exc:
            error = exc.message
        except ValidationError as exc:
            error = " ".join(exc.messages)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "line_messaging/link.html",
        {
            "link_token": link_token,
            "existing": existing,
            "registration": registration,
            "error": error,
            "mode": mode,
        },
        status=status,
    )
