"""HQ actions on one member that need the password re-entered: point adjustments (and the
re-authentication check the withdrawal page shares).

Re-authentication failures are written to the audit log (``reauth_failed``) outside any
transaction, so they count even though the action itself is refused; after
``REAUTH_FAILURES_MAX`` failures within ``REAUTH_WINDOW`` the user's sensitive actions stay
locked until the window has passed, whatever password is typed.
"""

import datetime
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from audit.services import audit_record
from hq.errors import (
    AdjustmentExceedsBalance,
    AdjustmentInvalid,
    FormAlreadySubmitted,
    ReauthFailed,
    ReauthLocked,
)
from membership.models import MemberStatus, PointEntry
from membership.services.points import member_lock, points_adjust, points_expire_for_member

REAUTH_WINDOW = datetime.timedelta(minutes=15)
REAUTH_FAILURES_MAX = 5
ADJUST_POINTS_MAX = 100_000


def reauth_check(*, user: AbstractBaseUser, password: str, purpose: str) -> None:
    """Refuse unless ``password`` is the user's own and the user is not locked out.

    Raises ``ReauthLocked`` (too many recent failures, also with the right password) or
    ``ReauthFailed``; each failure is recorded in the audit log with ``purpose``.
    """
    since = timezone.now() - REAUTH_WINDOW
    failures = AuditEntry.objects.filter(
        actor_id=user.pk, action=AuditAction.REAUTH_FAILED, occurred_at__gte=since
    ).count()
    if failures >= REAUTH_FAILURES_MAX:
        raise ReauthLocked()
    if user.check_password(password):
        return
    audit_record(
        actor=user,
        action=AuditAction.REAUTH_FAILED,
        target=user,
        target_repr=user.get_username(),
        after={"purpose": purpose},
    )
    if failures + 1 >= REAUTH_FAILURES_MAX:
        raise ReauthLocked()
    raise ReauthFailed(remaining=REAUTH_FAILURES_MAX - failures - 1)


@dataclass(frozen=True)
class AdjustmentOutcome:
    entry: PointEntry
    # False when this form had already been processed: nothing new was written.
    created: bool


def member_points_adjust(
    *,
    member_id: int,
    points: int,
    reason: str,
    actor: AbstractBaseUser,
    form_key: uuid.UUID,
) -> AdjustmentOutcome:
    """Add or remove points by hand, with the audit entry in the same transaction.

    Idempotent per ``form_key`` (one key per rendered form), so a double submit adjusts
    once. Locks the member; a removal first expires lots past their date, then may not
    take the balance below zero. Raises ``AdjustmentInvalid``, ``AdjustmentExceedsBalance``,
    ``FormAlreadySubmitted`` (the key was used for another member).
    """
    reason = reason.strip()
    if not reason:
        raise AdjustmentInvalid("調整理由を入力してください。", field="reason")
    if points == 0 or abs(points) > ADJUST_POINTS_MAX:
        raise AdjustmentInvalid(
            f"ポイントは0以外の{ADJUST_POINTS_MAX:,}以内の整数で入力してください。",
            field="points",
        )
    key = f"hq_adjust:{form_key}"
    with transaction.atomic():
        member = member_lock(member_id)
        existing = PointEntry.objects.filter(idempotency_key=key).first()
        if existing is not None:
            if existing.member_id != member.pk:
                raise FormAlreadySubmitted()
            return AdjustmentOutcome(entry=existing, created=False)
        if member.status != MemberStatus.ACTIVE:
            raise AdjustmentInvalid("退会済みの会員のポイントは調整できません。", field="points")
        if points < 0:
            # Points past their last day are not the member's to lose again.
            points_expire_for_member(member=member)
            if -points > member.points_balance:
                raise AdjustmentExceedsBalance(
                    f"残高({member.points_balance:,}ポイント)を超えて減らすことはできません。",
                    balance=member.points_balance,
                    requested=-points,
                )
        before = member.points_balance
        movement = points_adjust(
            member_id=member.pk,
            delta=points,
            reason=reason,
            actor=f"user:{actor.get_username()}"[:64],
            idempotency_key=key,
        )
        audit_record(
            actor=actor,
            action=AuditAction.POINTS_ADJUST,
            target=member,
            target_repr=f"会員 {member.card_number}",
            before={"balance": before},
            after={"balance": movement.entry.balance_after, "delta": points},
            reason=reason,
        )
    return AdjustmentOutcome(entry=movement.entry, created=True)
