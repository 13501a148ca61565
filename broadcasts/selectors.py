"""Reads for segments and broadcasts: who a segment selects, what a user received, reports."""

import datetime
from dataclasses import dataclass

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from broadcasts.models import Broadcast, BroadcastBatch, BroadcastRecipient, Segment
from line_messaging.models import LineFriend, OutboxState
from membership.models import Member, MemberStatus, PointLot
from pos_bridge.models import Purchase, PurchaseItem


@dataclass(frozen=True)
class BroadcastReceived:
    broadcast_id: int
    name: str
    kind: str
    kind_label: str
    # When LINE accepted the multicast carrying this user; None while still queued.
    sent_at: datetime.datetime | None
    queued_at: datetime.datetime
    delivery_state: str


def broadcasts_received(*, line_user_id: str) -> list[BroadcastReceived]:
    """The broadcasts that targeted this LINE user, newest first, with when they were sent.

    One row per broadcast (a member is targeted at most once per broadcast). For the member
    360° page; carries no personal data.
    """
    rows = (
        BroadcastRecipient.objects.filter(line_user_id=line_user_id)
        .select_related("broadcast", "batch__outbox")
        .order_by("-batch__created_at", "-id")
    )
    return [
        BroadcastReceived(
            broadcast_id=row.broadcast_id,
            name=row.broadcast.name,
            kind=row.broadcast.kind,
            kind_label=row.broadcast.get_kind_display(),
            sent_at=row.batch.outbox.sent_at,
            queued_at=row.batch.created_at,
            delivery_state=row.batch.outbox.state,
        )
        for row in rows
    ]


# --- segments --------------------------------------------------------------------------------


def _day_start(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of ``day`` in the business time zone (TIME_ZONE)."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without it
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class SegmentCriteria:
    """A segment's criteria, saved or not (the live count previews an unsaved form)."""

    tier_ids: tuple[int, ...] = ()
    genders: tuple[str, ...] = ()
    age_min: int | None = None
    age_max: int | None = None
    prefectures: tuple[str, ...] = ()
    joined_from: datetime.date | None = None
    joined_to: datetime.date | None = None
    linked_from: datetime.date | None = None
    linked_to: datetime.date | None = None
    last_purchase_from: datetime.date | None = None
    last_purchase_to: datetime.date | None = None
    window_days: int | None = None
    purchase_count_min: int | None = None
    purchase_count_max: int | None = None
    spend_min: int | None = None
    spend_max: int | None = None
    store_ids: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    balance_min: int | None = None
    balance_max: int | None = None
    expiring_within_days: int | None = None


SCALAR_CRITERIA = (
    "age_min",
    "age_max",
    "joined_from",
    "joined_to",
    "linked_from",
    "linked_to",
    "last_purchase_from",
    "last_purchase_to",
    "window_days",
    "purchase_count_min",
    "purchase_count_max",
    "spend_min",
    "spend_max",
    "balance_min",
    "balance_max",
    "expiring_within_days",
)


def segment_criteria(*, segment: Segment) -> SegmentCriteria:
    return SegmentCriteria(
        tier_ids=tuple(sorted(segment.tiers.values_list("pk", flat=True))),
        store_ids=tuple(sorted(segment.stores.values_list("pk", flat=True))),
        genders=tuple(segment.genders),
        prefectures=tuple(segment.prefectures),
        categories=tuple(segment.categories),
        **{name: getattr(segment, name) for name in SCALAR_CRITERIA},
    )


def segment_members(
    *,
    criteria: SegmentCriteria,
    today: datetime.date | None = None,
    marketing: bool = True,
) -> QuerySet[Member]:
    """The members a segment selects: active, linked to a LINE friend who has not blocked the
    account (and, for ``marketing``, has not opted out), matching every criterion set.

    The one place a segment becomes SQL. Per-member facts (purchases, items, lots) are
    correlated ``EXISTS``/aggregate subqueries on indexed columns (purchase_member_time,
    pointlot_open_by_expiry), so the database does the work in one statement however many
    members there are; nothing iterates members in Python.
    """
    today = today or timezone.localdate()
    friend = LineFriend.objects.filter(member=OuterRef("pk"), is_blocked=False)
    if marketing:
        friend = friend.filter(marketing_opt_in=True)
    members = Member.objects.filter(status=MemberStatus.ACTIVE).filter(Exists(friend))

    if criteria.tier_ids:
        members = members.filter(tier_id__in=criteria.tier_ids)
    if criteria.genders:
        members = members.filter(gender__in=criteria.genders)
    if criteria.age_min is not None:
        members = members.filter(birth_date__lte=_years_before(today, criteria.age_min))
    if criteria.age_max is not None:
        members = members.filter(birth_date__gt=_years_before(today, criteria.age_max + 1))
    if criteria.prefectures:
        members = members.filter(prefecture__in=criteria.prefectures)
    if criteria.joined_from is not None:
        members = members.filter(joined_on__gte=criteria.joined_from)
    if criteria.joined_to is not None:
        members = members.filter(joined_on__lte=criteria.joined_to)
    if criteria.linked_from is not None or criteria.linked_to is not None:
        linked = LineFriend.objects.filter(member=OuterRef("pk"))
        if criteria.linked_from is not None:
            linked = linked.filter(linked_at__gte=_day_start(criteria.linked_from))
        if criteria.linked_to is not None:
            linked = linked.filter(
                linked_at__lt=_day_start(criteria.linked_to + datetime.timedelta(days=1))
            )
        members = members.filter(Exists(linked))

    own_purchases = Purchase.objects.filter(member=OuterRef("pk"))
    # The last purchase falls in [from, to]: one purchase in the range and none after it.
    if criteria.last_purchase_from is not None or criteria.last_purchase_to is not None:
        in_range = own_purchases
        if criteria.last_purchase_from is not None:
            in_range = in_range.filter(occurred_at__gte=_day_start(criteria.last_purchase_from))
        if criteria.last_purchase_to is not None:
            after_end = _day_start(criteria.last_purchase_to + datetime.timedelta(days=1))
            in_range = in_range.filter(occurred_at__lt=after_end)
            members = members.filter(~Exists(own_purchases.filter(occurred_at__gte=after_end)))
        members = members.filter(Exists(in_range))

    window = own_purchases
    if criteria.window_days is not None:
        since = _day_start(today - datetime.timedelta(days=criteria.window_days - 1))
        window = window.filter(occurred_at__gte=since)
    # A purchase refunded in full is no visit and no spend; a partial refund lowers spend.
    counted = window.filter(refunded_amount__lt=F("total"))
    if criteria.purchase_count_min is not None or criteria.purchase_count_max is not None:
        count = Coalesce(
            Subquery(
                counted.order_by().values("member").annotate(n=Count("pk")).values("n")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        )
        members = members.annotate(segment_purchase_count=count)
        if criteria.purchase_count_min is not None:
            members = members.filter(segment_purchase_count__gte=criteria.purchase_count_min)
        if criteria.purchase_count_max is not None:
            members = members.filter(segment_purchase_count__lte=criteria.purchase_count_max)
    if criteria.spend_min is not None or criteria.spend_max is not None:
        spend = Coalesce(
            Subquery(
                window.order_by()
                .values("member")
                .annotate(s=Sum(F("total") - F("refunded_amount")))
                .values("s")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        )
        members = members.annotate(segment_spend=spend)
        if criteria.spend_min is not None:
            members = members.filter(segment_spend__gte=criteria.spend_min)
        if criteria.spend_max is not None:
            members = members.filter(segment_spend__lte=criteria.spend_max)
    if criteria.store_ids:
        members = members.filter(Exists(counted.filter(store_id__in=criteria.store_ids)))
    if criteria.categories:
        items = PurchaseItem.objects.filter(
            purchase__member=OuterRef("pk"),
            purchase__refunded_amount__lt=F("purchase__total"),
            category__in=criteria.categories,
        )
        if criteria.window_days is not None:
            items = items.filter(purchase__occurred_at__gte=since)
        members = members.filter(Exists(items))

    if criteria.balance_min is not None:
        members = members.filter(points_balance__gte=criteria.balance_min)
    if criteria.balance_max is not None:
        members = members.filter(points_balance__lte=criteria.balance_max)
    if criteria.expiring_within_days is not None:
        lots = PointLot.objects.filter(
            member=OuterRef("pk"),
            remaining__gt=0,
            expires_on__gte=today,
            expires_on__lte=today + datetime.timedelta(days=criteria.expiring_within_days),
        )
        members = members.filter(Exists(lots))
    return members


def segment_count(*, criteria: SegmentCriteria, today: datetime.date | None = None) -> int:
    return segment_members(criteria=criteria, today=today).count()


# --- delivery report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReport:
    targeted: int
    batches: int
    pending: int
    sent: int
    failed: int
    skipped: int
    blocked_since: int


def broadcast_report(*, broadcast: Broadcast) -> DeliveryReport:
    """Counts of recipients by what happened to the multicast that carried them.

    ``skipped`` are recipients who had blocked the account when their multicast went out
    (the outbox leaves them out); ``blocked_since`` are recipients sent the message who
    blocked the account afterwards.
    """
    by_state = (
        BroadcastBatch.objects.filter(broadcast=broadcast)
        .values("outbox__state")
        .annotate(
            batches=Count("pk"),
            people=Sum("size"),
            left_out=Sum("outbox__recipients_skipped"),
        )
        .order_by()
    )
    pending = sent = failed = skipped = n = 0
    for row in by_state:
        state, recipients, left_out = row["outbox__state"], row["people"], row["left_out"]
        n += row["batches"]
        if state == OutboxState.SENT:
            skipped += left_out
            sent += recipients - left_out
        elif state == OutboxState.SKIPPED:
            skipped += recipients
        elif state == OutboxState.FAILED:
            failed += recipients
        else:
            pending += recipients
    blocked_since = (
        BroadcastRecipient.objects.filter(
            broadcast=broadcast, batch__outbox__state=OutboxState.SENT
        )
        .filter(
            Exists(
                LineFriend.objects.filter(
                    user_id=OuterRef("line_user_id"),
                    is_blocked=True,
                    blocked_at__gt=OuterRef("batch__outbox__sent_at"),
                )
            )
        )
        .count()
    )
    return DeliveryReport(
        targeted=broadcast.targeted,
        batches=n,
        pending=pending,
        sent=sent,
        failed=failed,
        skipped=skipped,
        blocked_since=blocked_since,
    )


def broadcast_list() -> QuerySet[Broadcast]:
    return Broadcast.objects.select_related("segment").order_by("-created_at", "-id")


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.prefetch_related("tiers", "stores")
