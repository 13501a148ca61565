"""Member search, the member 360° page, manual point adjustments and withdrawal.

HQ roles only: the admin sees everything and may act; the analyst reads with personal data
masked and may search by card number only. Every action re-asks the password.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from common.errors import ApplicationError
from hq.forms import AdjustmentForm, WithdrawalForm
from hq.roles import HqRole, hq_role_required, request_hq_access
from hq.selectors import (
    ANALYST_SEARCH_FIELDS,
    SEARCH_FIELDS,
    mask_display_name,
    member_entry_page,
    member_line,
    member_overview,
    member_profile,
    member_purchase_page,
    members_search,
)
from hq.services.member_actions import member_points_adjust, reauth_check
from membership.models import Member, MemberStatus
from membership.services.withdrawal import member_withdraw

HQ_READERS = (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST)


@require_GET
@hq_role_required(*HQ_READERS)
def member_search(request: HttpRequest) -> HttpResponse:
    access = request_hq_access(request)
    allowed = ANALYST_SEARCH_FIELDS if access.masks_personal_data else tuple(SEARCH_FIELDS)
    field_name = request.GET.get("field", "card")
    text = request.GET.get("q", "").strip()[:128]
    error = ""
    results: list[Member] = []
    if field_name not in allowed:
        error = "この項目では検索できません。"
    elif text:
        results = members_search(field_name=field_name, text=text)
    rows = [
        (
            member,
            member_profile(member=member, masked=access.masks_personal_data),
            getattr(member, "line_friend", None),
        )
        for member in results
    ]
    return render(
        request,
        "hq/members/search.html",
        {
            "access": access,
            "fields": [(k, v) for k, v in SEARCH_FIELDS.items() if k in allowed],
            "field": field_name,
            "q": text,
            "rows": rows,
            "searched": bool(text) and not error,
            "error": error,
        },
        status=400 if error else 200,
    )


def _before(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _member_page(
    request: HttpRequest,
    member: Member,
    *,
    adjust_form: AdjustmentForm | None = None,
    withdraw_form: WithdrawalForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    access = request_hq_access(request)
    line = member_line(member=member, masked=access.masks_personal_data)
    can_act = access.role is HqRole.HQ_ADMIN and member.status == MemberStatus.ACTIVE
    if can_act:
        adjust_form = adjust_form or AdjustmentForm()
        withdraw_form = withdraw_form or WithdrawalForm(card_number=member.card_number)
    display_name = line.friend.display_name if line.friend else ""
    if access.masks_personal_data:
        display_name = mask_display_name(display_name)
    return render(
        request,
        "hq/members/detail.html",
        {
            "access": access,
            "member": member,
            "profile": member_profile(member=member, masked=access.masks_personal_data),
            "overview": member_overview(member=member),
            "line": line,
            "line_display_name": display_name,
            "purchases": member_purchase_page(member=member, before=_before(request, "pb")),
            "entries": member_entry_page(member=member, before=_before(request, "eb")),
            "can_act": can_act,
            "adjust_form": adjust_form,
            "withdraw_form": withdraw_form,
            "error": error,
        },
        status=status,
    )


def _member(card_number: str) -> Member:
    return get_object_or_404(Member.objects.select_related("tier"), card_number=card_number)


@require_GET
@hq_role_required(*HQ_READERS)
def member_detail(request: HttpRequest, card_number: str) -> HttpResponse:
    return _member_page(request, _member(card_number))


@require_POST
@hq_role_required(HqRole.HQ_ADMIN)
def member_adjust(request: HttpRequest, card_number: str) -> HttpResponseBase:
    member = _member(card_number)
    form = AdjustmentForm(request.POST)
    if not form.is_valid():
        return _member_page(request, member, adjust_form=form, status=422)
    data = form.cleaned_data
    try:
        reauth_check(user=request.user, password=data["password"], purpose="points_adjust")  # type: ignore[arg-type]
        outcome = member_points_adjust(
            member_id=member.pk,
            points=data["points"],
            reason=data["reason"],
            actor=request.user,  # type: ignore[arg-type]
            form_key=data["form_key"],
        )
    except ApplicationError as exc:
        return _member_page(request, member, adjust_form=form, error=exc.message, status=exc.status)
    if outcome.created:
        messages.success(
            request,
            f"{outcome.entry.delta:+,}ポイント調整しました(残高 {outcome.entry.balance_after:,})。",
        )
    else:
        messages.info(request, "この調整はすでに処理済みです(二重送信は反映されません)。")
    return redirect("hq:member_detail", card_number=member.card_number)


@require_POST
@hq_role_required(HqRole.HQ_ADMIN)
def member_withdrawal(request: HttpRequest, card_number: str) -> HttpResponseBase:
    member = _member(card_number)
    if member.status == MemberStatus.WITHDRAWN:
        messages.info(request, "この会員はすでに退会済みです。")
        return redirect("hq:member_detail", card_number=member.card_number)
    form = WithdrawalForm(request.POST, card_number=member.card_number)
    if not form.is_valid():
        return _member_page(request, member, withdraw_form=form, status=422)
    data = form.cleaned_data
    try:
        reauth_check(user=request.user, password=data["password"], purpose="member_withdraw")  # type: ignore[arg-type]
    except ApplicationError as exc:
        return _member_page(
            request, member, withdraw_form=form, error=exc.message, status=exc.status
        )
    outcome = member_withdraw(member=member, actor=request.user, reason=data["reason"])
    if outcome.withdrawn:
        messages.success(
            request,
            f"退会処理をしました。失効ポイント {outcome.points_forfeited:,}、"
            f"LINE連携{'を解除しました' if outcome.line_unlinked else 'はありませんでした'}。",
        )
    return redirect("hq:member_detail", card_number=member.card_number)
