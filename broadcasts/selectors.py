"""Reads for segments and broadcasts: who a segment selects, what a user received, reports."""

import datetime
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
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
    after_member_id: int | None = None,
) -> QuerySet[Member]:
    """The members a segment selects: active, linked to a LINE friend who has not blocked the
    account (and, for ``marketing``, has not opted out), matching every criterion set.

    The one place a segment becomes SQL. The friend is an inner join (a member has at most
    one), so ``line_friend__user_id`` in ``values()`` reuses it. Per-member facts (purchases,
    items, lots) are correlated ``EXISTS``/aggregate subqueries, or one grouped ``IN`` for
    purchase totals, on indexed columns (purchase_member_time_cover,
    pointlot_open_by_expiry), so the database does the work in one statement however many
    members there are; nothing iterates members in Python.

    ``after_member_id`` keeps only members with a larger id, and says so to the friend join
    and to every subquery as well: the background job pages through a segment 500 members at
    a time, and PostgreSQL does not carry ``member.id > N`` over to a join or subquery on
    ``member_id`` by itself, so without it a merge join rescans every friend (or purchase)
    below the cursor for each batch and the job slows down as it goes (measured in
    bench/bench_segments.py).
    """
    today = today or timezone.localdate()
    members = Member.objects.filter(status=MemberStatus.ACTIVE, line_friend__is_blocked=False)
    if marketing:
        members = members.filter(line_friend__marketing_opt_in=True)
    after: dict[str, int] = {}
    if after_member_id is not None:
        members = members.filter(pk__gt=after_member_id, line_friend__member_id__gt=after_member_id)
        after = {"member_id__gt": after_member_id}

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
    if criteria.linked_from is not None:
        members = members.filter(line_friend__linked_at__gte=_day_start(criteria.linked_from))
    if criteria.linked_to is not None:
        members = members.filter(
            line_friend__linked_at__lt=_day_start(criteria.linked_to + datetime.timedelta(days=1))
        )

    own_purchases = Purchase.objects.filter(member=OuterRef("pk"), **after)
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
    if (criteria.purchase_count_min or 0) > 0 or (criteria.spend_min or 0) > 0:
        # Only members with purchases in the window can qualify: one pass over the
        # window's purchases grouped by member (an index-only scan of
        # purchase_member_time_cover, which carries total and refunded_amount), instead of
        # two aggregate subqueries per linked member (1.6 s for 370,000 linked members;
        # see bench/README.md).
        in_window = Purchase.objects.filter(member__isnull=False, **after)
        if criteria.window_days is not None:
            in_window = in_window.filter(occurred_at__gte=since)
        totals = (
            in_window.order_by()
            .values("member")
            .annotate(
                segment_n=Count("total", filter=Q(refunded_amount__lt=F("total"))),
                segment_s=Sum(F("total") - F("refunded_amount")),
            )
        )
        for name, low, high in (
            ("segment_n", criteria.purchase_count_min, criteria.purchase_count_max),
            ("segment_s", criteria.spend_min, criteria.spend_max),
        ):
            if low is not None:
                totals = totals.filter(**{f"{name}__gte": low})
            if high is not None:
                totals = totals.filter(**{f"{name}__lte": high})
        members = members.filter(pk__in=totals.values("member"))
    elif criteria.purchase_count_max == 0:
        # "No purchase in the window" (lapsed customers): an anti-join. Their spend in the
        # window is 0 (only purchases refunded in full, if any), so a spend_max holds too.
        members = members.filter(~Exists(counted))
    else:
        # Zero purchases may qualify ("at most N"): per member, missing counts as 0.
        if criteria.purchase_count_max is not None:
            count = Coalesce(
                Subquery(
                    counted.order_by().values("member").annotate(n=Count("pk")).values("n")[:1],
                    output_field=IntegerField(),
                ),
                Value(0),
            )
            members = members.annotate(segment_purchase_count=count).filter(
                segment_purchase_count__lte=criteria.purchase_count_max
            )
        if criteria.spend_max is not None:
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
            members = members.annotate(segment_spend=spend).filter(
                segment_spend__lte=criteria.spend_max
            )
    if criteria.store_ids:
        members = members.filter(Exists(counted.filter(store_id__in=criteria.store_ids)))
    if criteria.categories:
        items = PurchaseItem.objects.filter(
            purchase__member=OuterRef("pk"),
            **{f"purchase__{name}": value for name, value in after.items()},
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
            **after,
            remaining__gt=0,
            expires_on__gte=today,
            expires_on__lte=today + datetime.timedelta(days=criteria.expiring_within_days),
        )
        members = members.filter(Exists(lots))
    return members


def _reads_purchases_in_bulk(criteria: SegmentCriteria) -> bool:
    """Whether the segment's SQL joins a set computed from many purchases (the grouped
    totals, or the purchases at the chosen stores / of the chosen categories)."""
    return bool(
        (criteria.purchase_count_min or 0) > 0
        or (criteria.spend_min or 0) > 0
        or criteria.store_ids
        or criteria.categories
    )


def segment_count(*, criteria: SegmentCriteria, today: datetime.date | None = None) -> int:
    """How many members the segment selects now (the live count on the segment form).

    On PostgreSQL, a segment that joins a set computed from purchases is counted without
    parallel workers: in a parallel plan each worker computes that set again in full
    (EXPLAIN ANALYZE shows the aggregate with loops=3), which on a small database server
    costs more than it gains (spend >= 30,000 in 365 days with 1,000,000 members: ~1.1 s
    parallel, ~0.65 s without; bench/README.md). Other segments keep the planner's choice.
    """
    members = segment_members(criteria=criteria, today=today)
    if connection.vendor != "postgresql" or not _reads_purchases_in_bulk(criteria):
        return members.count()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('max_parallel_workers_per_gather')")
        (previous,) = cursor.fetchone()
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        count = members.count()
        # Inside a caller's transaction, the rest of it plans as before (on an error the
        # rollback to the savepoint undoes the SET LOCAL by itself).
        cursor.execute("SELECT set_config('max_parallel_workers_per_gather', %s, true)", [previous])
    return count


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
