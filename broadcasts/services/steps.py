"""Step messages: marketing pushes N days after a member's first purchase.

Rules (decided here, shown on the HQ page):
- A member's first purchase is their earliest ``Purchase`` (by time, then id). If that
  purchase was refunded in full by the time a step falls due, the member gets no step
  messages anchored on it: a "thanks for your first purchase" after everything was returned
  reads wrong, and a later purchase is not a first purchase.
- A step is due on first-purchase day + ``days_after`` (business time zone). A run that was
  missed catches up for ``CATCH_UP_DAYS`` days; older due days are not sent, and neither are
  due days before the step was created (a new step does not message every past customer).
- Marketing: only active members linked to a friend who has not blocked the account and has
  not opted out. Each step reaches a member once (``StepMessageDelivery`` is unique per step
  and member and is written in the transaction that queues the push).
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record, audit_snapshot
from broadcasts.models import StepMessage, StepMessageDelivery
from line_messaging.messages import text
from line_messaging.models import LineFriend
from line_messaging.services.outbox import outbox_message
from line_messaging.services.triggers import STEP_MESSAGE, template_check, template_render
from membership.models import Member, MemberStatus
from pos_bridge.models import Purchase

CATCH_UP_DAYS = 3


def step_save(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    step: StepMessage | None = None,
    name: str,
    days_after: int,
    template: str,
    enabled: bool,
) -> StepMessage:
    """Create or edit a step; audited. Raises ``TemplateInvalid`` (nothing written)."""
    template_check(trigger=STEP_MESSAGE, template=template)
    with transaction.atomic():
        if step is None:
            before = None
            step = StepMessage()
        else:
            step = StepMessage.objects.select_for_update().get(pk=step.pk)
            before = audit_snapshot(step)
        step.name = name
        step.days_after = days_after
        step.template = template
        step.enabled = enabled
        step.full_clean()
        step.save()
        audit_record(
            actor=actor,
            action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
            target=step,
            before=before,
            after=audit_snapshot(step),
        )
    return step


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def step_due_member_ids(*, step: StepMessage, today: datetime.date) -> list[int]:
    """Members the step is due for today (or was, within the catch-up window)."""
    last_anchor = today - datetime.timedelta(days=step.days_after)
    first_anchor = last_anchor - datetime.timedelta(days=CATCH_UP_DAYS)
    created_anchor = timezone.localdate(step.created_at) - datetime.timedelta(days=step.days_after)
    first_anchor = max(first_anchor, created_anchor)
    if first_anchor > last_anchor:
        return []
    earlier = Purchase.objects.filter(member=OuterRef("member")).filter(
        Q(occurred_at__lt=OuterRef("occurred_at"))
        | Q(occurred_at=OuterRef("occurred_at"), pk__lt=OuterRef("pk"))
    )
    friend = LineFriend.objects.filter(
        member=OuterRef("member"), is_blocked=False, marketing_opt_in=True
    )
    sent = StepMessageDelivery.objects.filter(step=step, member=OuterRef("member"))
    firsts = (
        Purchase.objects.filter(
            member__isnull=False,
            member__status=MemberStatus.ACTIVE,
            occurred_at__gte=_day_start(first_anchor),
            occurred_at__lt=_day_start(last_anchor + datetime.timedelta(days=1)),
            refunded_amount__lt=F("total"),
        )
        .filter(~Exists(earlier), Exists(friend), ~Exists(sent))
        .order_by("member_id")
        .values_list("member_id", flat=True)
    )
    return list(firsts)


@dataclass
class StepReport:
    sent: int = 0
    skipped: int = 0


def step_messages_send(*, today: datetime.date | None = None) -> StepReport:
    """Queue every enabled step that is due; safe to run at any frequency, concurrently."""
    today = today or timezone.localdate()
    report = StepReport()
    for step in StepMessage.objects.filter(enabled=True):
        for member_id in step_due_member_ids(step=step, today=today):
            if _step_send(step=step, member_id=member_id):
                report.sent += 1
            else:
                report.skipped += 1
    return report


def _step_send(*, step: StepMessage, member_id: int) -> bool:
    member = Member.objects.select_related("tier").get(pk=member_id)
    line_user_id = (
        LineFriend.objects.filter(member=member, is_blocked=False, marketing_opt_in=True)
        .values_list("user_id", flat=True)
        .first()
    )
    if line_user_id is None:
        return False
    body = template_render(
        trigger=STEP_MESSAGE,
        template=step.template,
        values={
            "name": member.display_name,
            "balance": f"{member.points_balance:,}",
            "tier": member.tier.name if member.tier_id and member.tier else "",
        },
    )
    try:
        with transaction.atomic():
            StepMessageDelivery.objects.create(
                step=step, member=member, line_user_id=line_user_id, sent_at=timezone.now()
            )
            outbox_message(line_user_id=line_user_id, messages=[text(body)], purpose="step")
    except IntegrityError:
        # A parallel run queued this step for this member a moment ago.
        return False
    return True
