"""Writing broadcasts: create/edit, schedule, cancel, test-send, and the background job that
turns a due broadcast into outbox multicasts.

Every HQ action is audited inside its own transaction. Sending never happens in a request:
``broadcast_schedule`` only marks the broadcast due; ``broadcasts_run_due`` (run by
``run_message_jobs`` or Celery) materialises recipients batch by batch.
"""

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record, audit_snapshot
from broadcasts.errors import (
    BroadcastNotCancellable,
    BroadcastNotEditable,
    BroadcastScheduleInvalid,
    TestRecipientNotFound,
)
from broadcasts.messages import broadcast_message
from broadcasts.models import (
    Broadcast,
    BroadcastBatch,
    BroadcastRecipient,
    BroadcastStatus,
    Segment,
)
from broadcasts.selectors import segment_criteria, segment_members
from line_messaging.models import LineFriend, OutboxMessage
from line_messaging.services.outbox import (
    MULTICAST_MAX_RECIPIENTS,
    outbox_message,
    outbox_multicast,
)

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | AnonymousUser | None
CONTENT_FIELDS = (
    "kind",
    "text",
    "image_url",
    "preview_image_url",
    "coupon_title",
    "coupon_description",
    "coupon_code",
    "coupon_valid_until",
)


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def broadcast_save(
    *,
    actor: Actor,
    broadcast: Broadcast | None = None,
    name: str,
    segment: Segment,
    content: dict[str, Any],
) -> Broadcast:
    """Create a draft (``broadcast`` None) or edit a draft or scheduled broadcast.

    ``content`` holds the message fields (``CONTENT_FIELDS``). Raises ``ValidationError``
    for content LINE would refuse and ``BroadcastNotEditable`` once sending has started.
    """
    with transaction.atomic():
        if broadcast is None:
            before = None
            broadcast = Broadcast(created_by=_user(actor))
        else:
            broadcast = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
            if not broadcast.is_editable:
                raise BroadcastNotEditable
            before = audit_snapshot(broadcast)
        broadcast.name = name
        broadcast.segment = segment
        for field in CONTENT_FIELDS:
            setattr(
                broadcast, field, content.get(field, "" if field != "coupon_valid_until" else None)
            )
        broadcast.full_clean()
        broadcast.save()
        audit_record(
            actor=actor,
            action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
            target=broadcast,
            before=before,
            after=audit_snapshot(broadcast),
        )
    return broadcast


def broadcast_schedule(
    *,
    actor: Actor,
    broadcast: Broadcast,
    send_at: datetime.datetime | None,
    now: datetime.datetime | None = None,
) -> Broadcast:
    """Mark a draft (or re-time a scheduled) broadcast to go at ``send_at`` (None: now).

    The job starts it at the first run at or after that time. Raises
    ``BroadcastScheduleInvalid`` for a time in the past, ``BroadcastNotEditable`` once started.
    """
    now = now or timezone.now()
    if send_at is not None and send_at <= now:
        raise BroadcastScheduleInvalid
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if not broadcast.is_editable:
            raise BroadcastNotEditable
        before = audit_snapshot(broadcast)
        broadcast.status = BroadcastStatus.SCHEDULED
        broadcast.scheduled_at = send_at or now
        broadcast.save(update_fields=["status", "scheduled_at", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.MESSAGE_SEND,
            target=broadcast,
            before=before,
            after=audit_snapshot(broadcast),
        )
        if send_at is None:
            transaction.on_commit(_kick_job)
    return broadcast


def broadcast_cancel(*, actor: Actor, broadcast: Broadcast) -> Broadcast:
    """Cancel a scheduled broadcast before the job starts it.

    The job takes the same row lock before starting, so a cancel either wins (nothing is
    sent) or finds the broadcast started and raises ``BroadcastNotCancellable``.
    """
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if broadcast.status != BroadcastStatus.SCHEDULED:
            raise BroadcastNotCancellable
        before = audit_snapshot(broadcast)
        broadcast.status = BroadcastStatus.CANCELLED
        broadcast.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.MESSAGE_CANCEL,
            target=broadcast,
            before=before,
            after=audit_snapshot(broadcast),
        )
    return broadcast


def broadcast_test_send(*, actor: Actor, broadcast: Broadcast, recipient: str) -> OutboxMessage:
    """Push the broadcast's message to one linked, unblocked friend, found by card number or
    LINE user ID (opt-out is ignored: HQ staff test on their own accounts).

    Raises ``TestRecipientNotFound``.
    """
    recipient = recipient.strip()
    if not recipient:
        raise TestRecipientNotFound
    friend = (
        LineFriend.objects.filter(is_blocked=False, member__isnull=False)
        .filter(Q(user_id=recipient) | Q(member__card_number=recipient))
        .first()
    )
    if friend is None:
        raise TestRecipientNotFound
    with transaction.atomic():
        (row,) = outbox_message(
            line_user_id=friend.user_id,
            messages=[broadcast_message(broadcast)],
            purpose="broadcast_test",
        )
        audit_record(
            actor=actor,
            action=AuditAction.TEST_SEND,
            target=broadcast,
            after={"line_user_id": friend.user_id, "member_id": friend.member_id},
        )
    return row


def _kick_job() -> None:
    """With Celery configured, run the job now instead of at the next periodic run."""
    if not getattr(settings, "CELERY_BROKER_URL", ""):
        return
    try:
        from broadcasts.tasks import run_message_jobs

        run_message_jobs.delay()
    except Exception:  # the periodic run still starts it
        logger.warning("could not enqueue the message job", exc_info=True)


# --- the background job ------------------------------------------------------------------------


@dataclass
class BroadcastJobReport:
    started: int = 0
    batches: int = 0
    recipients: int = 0
    finished: int = 0


def broadcasts_run_due(
    *, now: datetime.datetime | None = None, max_batches: int | None = None
) -> BroadcastJobReport:
    """Start every broadcast whose time has come and queue its recipients in batches.

    Resumable and safe to run concurrently: each batch is its own transaction under the
    broadcast's row lock, continuing after the last member id queued. ``max_batches``
    bounds one run's work (the rest is picked up by the next run).
    """
    now = now or timezone.now()
    report = BroadcastJobReport()
    due = (
        Broadcast.objects.filter(
            status__in=[BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING],
            scheduled_at__lte=now,
        )
        .order_by("scheduled_at", "id")
        .values_list("pk", flat=True)
    )
    for broadcast_id in list(due):
        if _broadcast_start(broadcast_id=broadcast_id, now=now):
            report.started += 1
        while max_batches is None or report.batches < max_batches:
            queued = broadcast_queue_next_batch(broadcast_id=broadcast_id, now=now)
            if queued is None:
                report.finished += 1
                break
            if queued == 0:  # not ours to send (cancelled, or another run finished it)
                break
            report.batches += 1
            report.recipients += queued
    return report


def _broadcast_start(*, broadcast_id: int, now: datetime.datetime) -> bool:
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
        if broadcast.status != BroadcastStatus.SCHEDULED:
            return False
        broadcast.status = BroadcastStatus.SENDING
        broadcast.started_at = now
        criteria = segment_criteria(segment=broadcast.segment)
        broadcast.estimated = segment_members(
            criteria=criteria, today=timezone.localdate(now)
        ).count()
        broadcast.save(update_fields=["status", "started_at", "estimated", "updated_at"])
    return True


def broadcast_queue_next_batch(*, broadcast_id: int, now: datetime.datetime) -> int | None:
    """Queue the next ≤ 500 recipients as one outbox multicast; returns how many.

    None when there are no more (the broadcast becomes QUEUED), 0 when the broadcast is not
    being sent. The batch row, its recipients, the multicast and the progress counters are
    written in one transaction, so a crash leaves either all of them or none.
    """
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update().select_related("segment").get(pk=broadcast_id)
        )
        if broadcast.status != BroadcastStatus.SENDING:
            return 0
        # The segment is evaluated as of the day the send started, whatever day a resumed
        # run happens on, so relative criteria ("last 90 days") stay the same throughout.
        today = timezone.localdate(broadcast.started_at or now)
        rows = list(
            segment_members(
                criteria=segment_criteria(segment=broadcast.segment),
                today=today,
                after_member_id=broadcast.cursor_member_id,
            )
            .order_by("pk")
            .values_list("pk", "line_friend__user_id")[:MULTICAST_MAX_RECIPIENTS]
        )
        if not rows:
            broadcast.status = BroadcastStatus.QUEUED
            broadcast.finished_at = now
            broadcast.save(update_fields=["status", "finished_at", "updated_at"])
            return None
        (outbox,) = outbox_multicast(
            line_user_ids=[user_id for _pk, user_id in rows],
            messages=[broadcast_message(broadcast)],
            purpose="broadcast",
        )
        batch = BroadcastBatch.objects.create(
            broadcast=broadcast,
            batch_no=broadcast.batches_queued + 1,
            first_member_id=rows[0][0],
            last_member_id=rows[-1][0],
            size=len(rows),
            outbox=outbox,
        )
        BroadcastRecipient.objects.bulk_create(
            [
                BroadcastRecipient(
                    broadcast=broadcast, batch=batch, member_id=pk, line_user_id=user_id
                )
                for pk, user_id in rows
            ]
        )
        broadcast.cursor_member_id = rows[-1][0]
        broadcast.targeted += len(rows)
        broadcast.batches_queued += 1
        broadcast.save(
            update_fields=["cursor_member_id", "targeted", "batches_queued", "updated_at"]
        )
    return len(rows)
