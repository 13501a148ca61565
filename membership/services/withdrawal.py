"""Member withdrawal (退会): forfeit the balance, erase personal data, unlink LINE.

What stays and why:
- The card number is kept. It is a random number that identifies nobody once name, kana,
  phone, email and the day of birth are gone; keeping it means it is never issued to
  someone else (who would inherit a stranger's history), old receipts and exported CSVs
  still point at the same record, and the old plastic card is answered at the till with
  ``member_inactive`` ("退会済み") instead of an unexplained "card not found".
- Birth date is reduced to 1 January of the birth year, gender and prefecture are kept:
  coarse enough not to identify, and the age band / region statistics stay right.
- Purchases, the ledger and tier history stay, pointing at the anonymised member, so
  sales statistics and ``check_ledger`` keep adding up.
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from line_messaging.models import LineFriend, LinkEvent
from line_messaging.services.linking import link_remove
from line_messaging.services.outbox import outbox_redact_for_users
from membership.models import CardCode, EntryKind, Member, MemberStatus
from membership.services.points import member_lock, points_debit, points_expire_for_member

WITHDRAWAL_REASON_MAX = 500


@dataclass(frozen=True)
class WithdrawalOutcome:
    member: Member
    # False when the member had already withdrawn: nothing was changed.
    withdrawn: bool
    points_forfeited: int = 0
    line_unlinked: bool = False


def _actor_label(actor: AbstractBaseUser | AnonymousUser | None) -> str:
    if actor is not None and actor.is_authenticated:
        return f"user:{actor.get_username()}"[:64]
    return "system:withdraw_member"


def member_withdraw(
    *,
    member: Member,
    actor: AbstractBaseUser | AnonymousUser | None,
    reason: str,
    now: datetime.datetime | None = None,
) -> WithdrawalOutcome:
    """Withdraw a member in one transaction; idempotent.

    Locks the member row, expires lots already past their date (so they count as expired,
    not forfeited), forfeits the rest through the ledger (kind ``forfeit``, every open lot
    consumed), erases personal data, sets status ``withdrawn``, unlinks the LINE user
    (``link_remove``: LinkEvent, a goodbye message and the rich menu reset through the
    outbox), erases the texts already sent to the member's LINE users, and writes the audit
    entry. A member already withdrawn is returned unchanged with
    ``withdrawn=False``. Raises ``ValueError`` for an empty reason.
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("reason is required")
    now = now or timezone.now()
    with transaction.atomic():
        locked = member_lock(member.pk)
        if locked.status == MemberStatus.WITHDRAWN:
            return WithdrawalOutcome(member=locked, withdrawn=False)
        before = {
            "status": locked.status,
            "points_balance": locked.points_balance,
            "personal_data": "present",
        }
        points_expire_for_member(member=locked)
        forfeited = locked.points_balance
        if forfeited:
            points_debit(
                member=locked,
                points=forfeited,
                kind=EntryKind.FORFEIT,
                reference="withdrawal",
                idempotency_key=f"withdrawal:{locked.pk}",
                actor=_actor_label(actor),
                occurred_at=now,
                reason=reason[:255],
            )
        # Every LINE user ever linked to this member, so texts sent before an earlier unlink
        # are erased too.
        line_user_ids = list(
            LinkEvent.objects.filter(member=locked)
            .values_list("friend__user_id", flat=True)
            .distinct()
        )
        outbox_redact_for_users(line_user_ids=line_user_ids)
        friend = LineFriend.objects.filter(member=locked).only("user_id").first()
        unlinked = False
        if friend is not None:
            # Lock order member → friend, as in linking, so a concurrent link cannot deadlock.
            unlinked = link_remove(line_user_id=friend.user_id, withdrawal=True)
        _personal_data_erase(locked, now=now)
        # Codes shown before the withdrawal must not resolve any more, even for a second.
        CardCode.objects.filter(member=locked, used_at__isnull=True).update(
            used_at=now, used_for="withdrawal"
        )
        audit_record(
            actor=actor,
            action=AuditAction.MEMBER_WITHDRAW,
            target=locked,
            # The card number only: the audit log must not keep the name just erased.
            target_repr=f"会員 {locked.card_number}",
            before=before,
            after={
                "status": locked.status,
                "points_balance": locked.points_balance,
                "points_forfeited": forfeited,
                "line_unlinked": unlinked,
                "personal_data": "erased",
            },
            reason=reason,
        )
    return WithdrawalOutcome(
        member=locked, withdrawn=True, points_forfeited=forfeited, line_unlinked=unlinked
    )


def _personal_data_erase(member: Member, *, now: datetime.datetime) -> None:
    member.name = ""
    member.name_kana = ""
    member.phone = ""
    member.email = ""
    member.birth_date = datetime.date(member.birth_date.year, 1, 1)
    member.status = MemberStatus.WITHDRAWN
    member.withdrawn_at = now
    # points_balance is left out: the ledger services own it (already updated by F()).
    member.save(
        update_fields=[
            "name",
            "name_kana",
            "phone",
            "email",
            "birth_date",
            "status",
            "withdrawn_at",
            "updated_at",
        ]
    )
