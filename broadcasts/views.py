"""HQ pages for segments, broadcasts and automatic messages.

HQ admins create and send; HQ analysts see the same pages read-only (counts and settings,
no personal data); store roles get 403 (``hq.roles``). Views only parse forms and call one
service or selector; sending happens in the background job, never here.
"""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from broadcasts.forms import (
    BroadcastForm,
    ScheduleForm,
    SegmentForm,
    StepMessageForm,
    TestSendForm,
    TriggeredMessageForm,
)
from broadcasts.models import Broadcast, BroadcastKind, Segment, StepMessage
from broadcasts.selectors import (
    broadcast_list,
    broadcast_report,
    segment_count,
    segment_criteria,
    segment_list,
)
from broadcasts.services.broadcasts import (
    broadcast_cancel,
    broadcast_save,
    broadcast_schedule,
    broadcast_test_send,
)
from broadcasts.services.segments import segment_save
from broadcasts.services.steps import CATCH_UP_DAYS, step_save
from common.errors import ApplicationError
from hq.roles import HqRole, hq_role_required, request_hq_access
from line_messaging.models import Trigger
from line_messaging.services.triggers import (
    TemplateInvalid,
    triggered_message_update,
    triggered_messages,
)

READERS = (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST)
WRITERS = (HqRole.HQ_ADMIN,)


def _can_write(request: HttpRequest) -> bool:
    return request_hq_access(request).role is HqRole.HQ_ADMIN


def _writes_need_admin(request: HttpRequest) -> None:
    """Pages analysts may read: a POST from anyone but an HQ admin is refused."""
    if request.method == "POST" and not _can_write(request):
        raise PermissionDenied


def _form_errors_from(form: Any, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


# --- segments --------------------------------------------------------------------------------


@require_GET
@hq_role_required(*READERS)
def segments_index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "broadcasts/segment_list.html",
        {"segments": segment_list(), "can_write": _can_write(request)},
    )


@require_http_methods(["GET", "POST"])
@hq_role_required(*WRITERS)
def segment_new(request: HttpRequest) -> HttpResponse:
    return _segment_page(request, segment=None)


@require_http_methods(["GET", "POST"])
@hq_role_required(*READERS)
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _writes_need_admin(request)
    return _segment_page(request, segment=get_object_or_404(Segment, pk=pk))


def _segment_page(request: HttpRequest, *, segment: Segment | None) -> HttpResponse:
    count = None
    status = 200
    if request.method == "POST":
        form = SegmentForm(request.POST)
        if form.is_valid():
            criteria = form.criteria()
            if "preview" in request.POST:
                # Count only ("件数を確認"): the page works without JavaScript.
                count = segment_count(criteria=criteria)
            else:
                saved = segment_save(
                    actor=request.user,
                    segment=segment,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    criteria=criteria,
                )
                messages.success(request, f"セグメント「{saved.name}」を保存しました。")
                return redirect("broadcasts:segment_edit", pk=saved.pk)
        else:
            status = 400
    elif segment is not None:
        form = SegmentForm(initial=SegmentForm.initial_for(segment))
        count = segment_count(criteria=segment_criteria(segment=segment))
    else:
        form = SegmentForm()
    return render(
        request,
        "broadcasts/segment_form.html",
        {
            "form": form,
            "segment": segment,
            "count": count,
            "can_write": _can_write(request),
        },
        status=status,
    )


@require_GET
@hq_role_required(*READERS)
def segment_count_json(request: HttpRequest) -> JsonResponse:
    """The live count for the segment form as it is being edited (query string = form)."""
    data = request.GET.copy()
    data.setdefault("name", "-")
    form = SegmentForm(data)
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        return JsonResponse({"errors": errors}, status=400)
    return JsonResponse({"count": segment_count(criteria=form.criteria())})


# --- broadcasts ------------------------------------------------------------------------------


@require_GET
@hq_role_required(*READERS)
def broadcasts_index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "broadcasts/broadcast_list.html",
        {"broadcasts": broadcast_list(), "can_write": _can_write(request)},
    )


@require_http_methods(["GET", "POST"])
@hq_role_required(*WRITERS)
def broadcast_new(request: HttpRequest) -> HttpResponse:
    return _broadcast_form_page(request, broadcast=None)


@require_http_methods(["GET", "POST"])
@hq_role_required(*WRITERS)
def broadcast_edit(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = get_object_or_404(Broadcast, pk=pk)
    if not broadcast.is_editable:
        messages.error(request, "配信が始まっているか取り消されているため、変更できません。")
        return redirect("broadcasts:broadcast_detail", pk=pk)
    return _broadcast_form_page(request, broadcast=broadcast)


def _broadcast_form_page(request: HttpRequest, *, broadcast: Broadcast | None) -> HttpResponse:
    preview = None
    status = 200
    if request.method == "POST":
        # A fresh instance: validating must not touch the saved broadcast.
        form = BroadcastForm(request.POST)
        if form.is_valid():
            if "preview" in request.POST:
                preview = form.instance
            else:
                try:
                    saved = broadcast_save(
                        actor=request.user,
                        broadcast=broadcast,
                        name=form.cleaned_data["name"],
                        segment=form.cleaned_data["segment"],
                        content=form.content(),
                    )
                except ValidationError as exc:
                    _form_errors_from(form, exc)
                    status = 400
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                    assert broadcast is not None  # only edits can be refused
                    return redirect("broadcasts:broadcast_detail", pk=broadcast.pk)
                else:
                    messages.success(request, f"配信「{saved.name}」を保存しました。")
                    return redirect("broadcasts:broadcast_detail", pk=saved.pk)
        else:
            status = 400
    else:
        form = BroadcastForm(instance=broadcast)
    return render(
        request,
        "broadcasts/broadcast_form.html",
        {"form": form, "broadcast": broadcast, "preview": preview, "kinds": BroadcastKind},
        status=status,
    )


@require_GET
@hq_role_required(*READERS)
def broadcast_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _broadcast_detail_page(request, get_object_or_404(Broadcast, pk=pk))


def _broadcast_detail_page(
    request: HttpRequest,
    broadcast: Broadcast,
    *,
    schedule_form: ScheduleForm | None = None,
    test_form: TestSendForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "broadcasts/broadcast_detail.html",
        {
            "broadcast": broadcast,
            "preview": broadcast,
            "report": broadcast_report(broadcast=broadcast),
            "can_write": _can_write(request),
            "schedule_form": schedule_form or ScheduleForm(),
            "test_form": test_form or TestSendForm(),
            "kinds": BroadcastKind,
        },
        status=status,
    )


@require_POST
@hq_role_required(*WRITERS)
def broadcast_schedule_view(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = get_object_or_404(Broadcast, pk=pk)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        return _broadcast_detail_page(request, broadcast, schedule_form=form, status=400)
    send_at = None if "send_now" in request.POST else form.cleaned_data["send_at"]
    try:
        broadcast = broadcast_schedule(actor=request.user, broadcast=broadcast, send_at=send_at)
    except ApplicationError as exc:
        form.add_error("send_at" if send_at else None, exc.message)
        return _broadcast_detail_page(request, broadcast, schedule_form=form, status=exc.status)
    if send_at is None:
        messages.success(request, "配信を開始しました。進み具合はこのページに表示されます。")
    else:
        messages.success(request, "配信を予約しました。")
    return redirect("broadcasts:broadcast_detail", pk=pk)


@require_POST
@hq_role_required(*WRITERS)
def broadcast_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = get_object_or_404(Broadcast, pk=pk)
    try:
        broadcast_cancel(actor=request.user, broadcast=broadcast)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "配信予約を取り消しました。")
    return redirect("broadcasts:broadcast_detail", pk=pk)


@require_POST
@hq_role_required(*WRITERS)
def broadcast_test_send_view(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = get_object_or_404(Broadcast, pk=pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        return _broadcast_detail_page(request, broadcast, test_form=form, status=400)
    try:
        broadcast_test_send(
            actor=request.user, broadcast=broadcast, recipient=form.cleaned_data["recipient"]
        )
    except ApplicationError as exc:
        form.add_error("recipient", exc.message)
        return _broadcast_detail_page(request, broadcast, test_form=form, status=exc.status)
    messages.success(request, "テスト送信を送信キューに入れました。")
    return redirect("broadcasts:broadcast_detail", pk=pk)


# --- triggered and step messages ---------------------------------------------------------------


@require_GET
@hq_role_required(*READERS)
def messages_index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "broadcasts/messages_index.html",
        {
            "triggered": triggered_messages(),
            "steps": StepMessage.objects.all(),
            "catch_up_days": CATCH_UP_DAYS,
            "can_write": _can_write(request),
        },
    )


@require_http_methods(["GET", "POST"])
@hq_role_required(*READERS)
def triggered_message_edit(request: HttpRequest, trigger: str) -> HttpResponse:
    _writes_need_admin(request)
    if trigger not in Trigger.values:
        raise Http404
    current = next(row for row in triggered_messages() if row.trigger == trigger)
    status = 200
    if request.method == "POST":
        form = TriggeredMessageForm(request.POST, trigger=trigger)
        if form.is_valid():
            try:
                triggered_message_update(
                    actor=request.user,
                    trigger=trigger,
                    enabled=form.cleaned_data["enabled"],
                    template=form.cleaned_data["template"],
                    days_before=form.cleaned_data.get("days_before"),
                )
            except (TemplateInvalid, ValidationError) as exc:
                form.add_error("template", str(exc))
                status = 400
            else:
                messages.success(request, f"「{current.get_trigger_display()}」を保存しました。")
                return redirect("broadcasts:messages_index")
        else:
            status = 400
    else:
        form = TriggeredMessageForm(
            trigger=trigger,
            initial={
                "enabled": current.enabled,
                "template": current.template,
                "days_before": current.days_before,
            },
        )
    return render(
        request,
        "broadcasts/triggered_form.html",
        {"form": form, "current": current, "can_write": _can_write(request)},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@hq_role_required(*WRITERS)
def step_new(request: HttpRequest) -> HttpResponse:
    return _step_page(request, step=None)


@require_http_methods(["GET", "POST"])
@hq_role_required(*READERS)
def step_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _writes_need_admin(request)
    return _step_page(request, step=get_object_or_404(StepMessage, pk=pk))


def _step_page(request: HttpRequest, *, step: StepMessage | None) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = StepMessageForm(request.POST)
        if form.is_valid():
            try:
                saved = step_save(actor=request.user, step=step, **form.cleaned_data)
            except (TemplateInvalid, ValidationError) as exc:
                form.add_error("template", str(exc))
                status = 400
            else:
                messages.success(request, f"ステップ配信「{saved.name}」を保存しました。")
                return redirect("broadcasts:messages_index")
        else:
            status = 400
    else:
        form = StepMessageForm(instance=step)
    return render(
        request,
        "broadcasts/step_form.html",
        {"form": form, "step": step, "can_write": _can_write(request)},
        status=status,
    )
