"""Recording purchases and refunds, and moving the points they cause.

Lock order, the same everywhere so concurrent requests cannot deadlock:
idempotency record → card code → purchase → member.
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from common import rowsql
from line_messaging.services.triggers import (
    ReceiptData,
    trigger_purchase_receipt,
    trigger_tier_change,
)
from membership.errors import CardCodeRequired, PointsInsufficient
from membership.models import EntryKind, LotConsumption, Member, MemberStatus, PointLot, Tier
from membership.services.card_codes import ResolvedCard, card_code_consume, card_resolve
from membership.services.earning import EarnItem, points_for_purchase
from membership.services.points import (
    lot_expiry,
    member_lock,
    points_credit,
    points_debit,
    points_expire_for_member,
)
from membership.services.rules_cache import earning_rules
from membership.services.tiers import member_tier_assign
from pos_bridge.errors import (
    DuplicateReceipt,
    OccurredAtInFuture,
    OccurredAtTooOld,
    PointsExceedTotal,
    PurchaseNotFound,
    RefundExceedsPurchase,
    StoreInactive,
)
from pos_bridge.models import Purchase, PurchaseItem, Refund, Terminal
from pos_bridge.selectors import member_spend_12m

# POS clocks drift; a few minutes ahead is a clock, more is a wrong date.
_FUTURE_TOLERANCE = datetime.timedelta(minutes=10)
# An offline POS resyncs within days; a sale older than this is a keying or clock error
# (and would earn points that have already expired).
MAX_BACKDATE = datetime.timedelta(days=90)


@dataclass(frozen=True)
class ItemData:
    sku: str
    quantity: int
    unit_price: int
    name: str = ""
    category: str = ""


def _actor(terminal: Terminal) -> str:
    return f"terminal:{terminal.pk}"


def _check_terminal_and_time(terminal: Terminal, occurred_at: datetime.datetime) -> None:
    if not terminal.store.active:
        raise StoreInactive(store=terminal.store.code)
    now = timezone.now()
    if occurred_at > now + _FUTURE_TOLERANCE:
        raise OccurredAtInFuture(occurred_at=occurred_at.isoformat())
    if occurred_at < now - MAX_BACKDATE:
        raise OccurredAtTooOld(occurred_at=occurred_at.isoformat(), max_days=MAX_BACKDATE.days)


def _tier_refresh(member: Member) -> None:
    before_id = member.tier_id
    after = member_tier_assign(member=member, spend_12m=member_spend_12m(member=member))
    if (after.pk if after else None) != before_id and after is not None:
        # Rare: only a change costs the query for the old tier's threshold.
        before = Tier.objects.filter(pk=before_id).first() if before_id else None
        trigger_tier_change(member=member, before=before, after=after)


def purchase_record(
    *,
    terminal: Terminal,
    receipt_number: str,
    occurred_at: datetime.datetime,
    total: int,
    items: Sequence[ItemData] = (),
    card: str | None = None,
    points_to_redeem: int = 0,
    offline: bool = False,
    savepoint: bool = True,
) -> Purchase:
    """Record a sale for the terminal's store, redeem and earn points, refresh the tier.

    One transaction; locks the card code (if any) then the member. A card code is consumed
    by the purchase; redeeming needs one (a card number alone can only earn). With
    ``offline`` (a POS resyncing sales it made while disconnected) a card code is checked
    against ``occurred_at`` instead of now. Not idempotent by itself: callers that may
    retry go through ``idempotent_call``; a repeated (store, receipt_number) raises
    ``DuplicateReceipt``. Raises membership's card and point errors,
    ``PointsExceedTotal``, ``OccurredAtInFuture``, ``StoreInactive``.

    Inside a caller's transaction the sale runs in a savepoint, so the caller can go on
    after an error (the staff scanner draws a new receipt number on ``DuplicateReceipt``).
    A caller whose transaction ends with any error passes ``savepoint=False`` and saves
    the savepoint's two round trips.
    """
    _check_terminal_and_time(terminal, occurred_at)
    if points_to_redeem > total:
        raise PointsExceedTotal(points_to_redeem=points_to_redeem, total=total)
    try:
        with transaction.atomic(savepoint=savepoint):
            return _purchase_record_locked(
                terminal=terminal,
                receipt_number=receipt_number,
                occurred_at=occurred_at,
                total=total,
                items=items,
                card=card,
                points_to_redeem=points_to_redeem,
                code_checked_at=min(occurred_at, timezone.now()) if offline else None,
            )
    except IntegrityError as exc:
        # Two requests with the same receipt under different keys: the unique constraint
        # lets exactly one through; the loser lands here after its transaction (or
        # savepoint) rolled back.
        if _is_receipt_conflict(exc):
            raise DuplicateReceipt(receipt_number=receipt_number) from exc
        raise


_RECEIPT_CONSTRAINT = "purchase_receipt_unique_per_store"


def _is_receipt_conflict(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the (store, receipt_number) unique constraint refusing an insert.

    Read from the error itself, with no query: without a savepoint the transaction can run
    none until it has rolled back.
    """
    diagnostic = getattr(exc.__cause__, "diag", None)
    if diagnostic is not None:  # PostgreSQL names the constraint
        return bool(diagnostic.constraint_name == _RECEIPT_CONSTRAINT)
    # SQLite names the columns: "UNIQUE constraint failed: <table>.store_id, <table>.receipt_number"
    return f"{Purchase._meta.db_table}.receipt_number" in str(exc)


def _purchase_record_locked(
    *,
    terminal: Terminal,
    receipt_number: str,
    occurred_at: datetime.datetime,
    total: int,
    items: Sequence[ItemData],
    card: str | None,
    points_to_redeem: int,
    code_checked_at: datetime.datetime | None,
) -> Purchase:
    # A repeated receipt number is caught by the unique constraint on insert (see
    # purchase_record): checking first would cost a query on every sale.
    store = terminal.store
    resolved: ResolvedCard | None = None
    member: Member | None = None
    if card:
        resolved = card_resolve(card=card, at=code_checked_at, for_update=True)
        member = resolved.member
    if points_to_redeem and (resolved is None or resolved.card_code is None):
        raise CardCodeRequired()
    if member is not None and points_to_redeem:
        points_expire_for_member(member=member)
    if member is not None and points_to_redeem > member.points_balance:
        raise PointsInsufficient(balance=member.points_balance, requested=points_to_redeem)

    points_earned = 0
    if member is not None:
        program = earning_rules().program
        points_earned = points_for_purchase(
            program=program,
            member=member,
            store_id=store.pk,
            occurred_at=occurred_at,
            total=total,
            points_redeemed=points_to_redeem,
            items=[
                EarnItem(sku=i.sku, category=i.category, amount=i.quantity * i.unit_price)
                for i in items
            ],
        ).total
    purchase = Purchase(
        store=store,
        terminal=terminal,
        receipt_number=receipt_number,
        occurred_at=occurred_at,
        total=total,
        member=member,
        identified_by=resolved.identified_by if resolved else "",
        points_redeemed=points_to_redeem,
        points_earned=points_earned,
    )
    # The hottest statements of the POS path skip the ORM's compiler (see common.rowsql).
    rowsql.row_insert(purchase)
    if items:
        rowsql.rows_insert(
            [
                PurchaseItem(
                    purchase=purchase,
                    sku=i.sku,
                    name=i.name,
                    category=i.category,
                    quantity=i.quantity,
                    unit_price=i.unit_price,
                )
                for i in items
            ]
        )
    if member is None:
        return purchase
    if resolved is not None and resolved.card_code is not None:
        card_code_consume(card_code=resolved.card_code, used_for=f"purchase:{purchase.pk}")
    reference = f"purchase:{purchase.pk}"
    if points_to_redeem:
        points_debit(
            member=member,
            points=points_to_redeem,
            kind=EntryKind.REDEEM,
            reference=reference,
            idempotency_key=f"{reference}:redeem",
            actor=_actor(terminal),
            occurred_at=occurred_at,
            key_is_new=True,  # the purchase row was created just now
        )
    if points_earned:
        points_credit(
            member=member,
            points=points_earned,
            kind=EntryKind.EARN,
            reference=reference,
            idempotency_key=f"{reference}:earn",
            actor=_actor(terminal),
            occurred_at=occurred_at,
            expires_on=lot_expiry(occurred_at, program=program),
            key_is_new=True,
        )
    # Same transaction as the sale: a rolled-back sale sends nothing, and a replay answered
    # from the idempotency record does not run this again.
    trigger_purchase_receipt(
        member=member,
        receipt=ReceiptData(
            store=store.name,
            total=total,
            points_earned=points_earned,
            points_redeemed=points_to_redeem,
        ),
    )
    _tier_refresh(member)
    purchase.member = member
    return purchase


def refund_record(
    *,
    terminal: Terminal,
    purchase_id: int,
    refund_receipt_number: str,
    amount: int,
    occurred_at: datetime.datetime,
) -> Refund:
    """Refund part or all of a purchase of the terminal's store and settle its points.

    Points follow the refunded share of the total, computed on running totals so that
    rounding never drifts: after refunds R of total T, ``points_redeemed * R // T`` have
    been given back and ``points_earned * R // T`` taken back; a full refund settles
    exactly. Used points are restored first, so a refund can pay back its own reversal.
    Earned points already spent are not taken below zero: the shortfall is recorded as
    ``points_unrecovered`` on the refund and the purchase.

    Locks the purchase then the member. Raises ``PurchaseNotFound`` (also for another
    store's purchase), ``RefundExceedsPurchase``, ``DuplicateReceipt``.
    """
    _check_terminal_and_time(terminal, occurred_at)
    try:
        with transaction.atomic():
            return _refund_record_locked(
                terminal=terminal,
                purchase_id=purchase_id,
                refund_receipt_number=refund_receipt_number,
                amount=amount,
                occurred_at=occurred_at,
            )
    except IntegrityError as exc:
        if Refund.objects.filter(
            store=terminal.store, refund_receipt_number=refund_receipt_number
        ).exists():
            raise DuplicateReceipt(receipt_number=refund_receipt_number) from exc
        raise


def _refund_record_locked(
    *,
    terminal: Terminal,
    purchase_id: int,
    refund_receipt_number: str,
    amount: int,
    occurred_at: datetime.datetime,
) -> Refund:
    purchase = (
        Purchase.objects.select_for_update().filter(pk=purchase_id, store=terminal.store).first()
    )
    if purchase is None:
        raise PurchaseNotFound(purchase_id=purchase_id)
    if amount > purchase.refundable_amount:
        raise RefundExceedsPurchase(refundable=purchase.refundable_amount, requested=amount)
    if Refund.objects.filter(
        store=terminal.store, refund_receipt_number=refund_receipt_number
    ).exists():
        raise DuplicateReceipt(receipt_number=refund_receipt_number)

    refunded_after = purchase.refunded_amount + amount
    to_restore = purchase.points_redeemed * refunded_after // purchase.total - (
        purchase.points_restored
    )
    to_reverse = purchase.points_earned * refunded_after // purchase.total - (
        purchase.points_reversed + purchase.points_unrecovered
    )
    refund = Refund.objects.create(
        purchase=purchase,
        store=terminal.store,
        terminal=terminal,
        refund_receipt_number=refund_receipt_number,
        amount=amount,
        occurred_at=occurred_at,
    )
    reversed_points = 0
    member = None
    if purchase.member_id is not None and (to_restore or to_reverse):
        member = member_lock(purchase.member_id)
        if member.status == MemberStatus.WITHDRAWN:
            # The account is closed and its balance was forfeited: used points are not paid
            # back into it (nobody could spend them), and earned points left with the rest.
            to_restore = 0
        reference = f"refund:{refund.pk}"
        for index, (expires_on, points) in enumerate(
            _restorable_segments(purchase, already=purchase.points_restored, count=to_restore)
        ):
            points_credit(
                member=member,
                points=points,
                kind=EntryKind.REVERSAL,
                reference=reference,
                idempotency_key=f"{reference}:restore:{index}",
                actor=_actor(terminal),
                occurred_at=occurred_at,
                expires_on=expires_on,
                reason="返品による利用ポイントの返還",
            )
        reversed_points = min(to_reverse, member.points_balance)
        if reversed_points:
            points_debit(
                member=member,
                points=reversed_points,
                kind=EntryKind.REVERSAL,
                reference=reference,
                idempotency_key=f"{reference}:reverse",
                actor=_actor(terminal),
                occurred_at=occurred_at,
                reason="返品による付与ポイントの取消",
                lots=_lots_for_reversal(purchase, member),
            )
    refund.points_restored = to_restore
    refund.points_reversed = reversed_points
    refund.points_unrecovered = to_reverse - reversed_points
    refund.save(update_fields=["points_restored", "points_reversed", "points_unrecovered"])
    purchase.refunded_amount = refunded_after
    purchase.points_restored += refund.points_restored
    purchase.points_reversed += refund.points_reversed
    purchase.points_unrecovered += refund.points_unrecovered
    purchase.save(
        update_fields=[
            "refunded_amount",
            "points_restored",
            "points_reversed",
            "points_unrecovered",
        ]
    )
    if purchase.member_id is not None:
        # Refunded spend no longer counts toward the tier; runs after the purchase row
        # holds the new refunded amount because the spend selector reads it.
        _tier_refresh(member or member_lock(purchase.member_id))
    return refund


def _restorable_segments(
    purchase: Purchase, *, already: int, count: int
) -> list[tuple[datetime.date | None, int]]:
    """Split ``count`` points to restore into (expiry, points) by the lots they were spent from.

    Restored points keep the expiry of the lot each one came from, so a refund never extends
    the life of points (that would reward buy-and-return); points whose lot has expired since
    are expired by the next ``expire_points`` run. The spent points are walked latest-expiry
    first and the first ``already`` of them were restored by earlier refunds, so partial
    refunds give back the longest-lived points first and together restore each point once.
    """
    spent = (
        LotConsumption.objects.filter(entry__idempotency_key=f"purchase:{purchase.pk}:redeem")
        .order_by("-lot__expires_on", "-lot_id")
        .values_list("lot__expires_on", "points")
    )
    segments: dict[datetime.date | None, int] = {}
    skip, remaining = already, count
    for expires_on, points in spent:
        usable = points - min(skip, points)
        skip -= points - usable
        take = min(usable, remaining)
        if take:
            segments[expires_on] = segments.get(expires_on, 0) + take
            remaining -= take
    if remaining:
        # No consumption record to follow (should not happen): default validity.
        segments[None] = segments.get(None, 0) + remaining
    return list(segments.items())


def _lots_for_reversal(purchase: Purchase, member: Member) -> list[PointLot]:
    """The purchase's own earned lot first, then the soonest-expiring others."""
    open_lots = PointLot.objects.filter(member=member, remaining__gt=0)
    earned_key = f"purchase:{purchase.pk}:earn"
    own = list(open_lots.filter(entry__idempotency_key=earned_key))
    others = open_lots.exclude(entry__idempotency_key=earned_key).order_by("expires_on", "id")
    return own + list(others)
