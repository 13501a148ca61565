"""Maintain the dashboard's roll-ups (``analytics.models``): the only writer of those tables.

``rollup_run`` recomputes whole days, months and today's snapshot from the source tables,
so it is idempotent and a re-run corrects anything. It only recomputes what changed since
the previous run started (minus a margin for transactions that were still open then):

- days of purchases created since then (POS may send sales up to 90 days late);
- days of refunds created since then, *and* the days of the purchases they refund (sales
  are net of refunds on the purchase's day, so an old day changes);
- every day from the previous run to today (links, bonuses, adjustments and expiry are
  written with the current time).

The run holds the ``RollupState`` row lock for its whole transaction; a second run that
finds it locked does nothing, so cron may start it at any frequency.
"""

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import (
    Count,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from analytics.models import (
    LinkDay,
    MemberMonth,
    PointsDay,
    RollupState,
    SalesDay,
    Snapshot,
    StoreFriendSnapshot,
    TierSnapshot,
)
from line_messaging.models import LineFriend, LinkAction, LinkEvent
from membership.models import EntryKind, Member, MemberStatus, PointEntry
from pos_bridge.models import Purchase, Refund

logger = logging.getLogger(__name__)

# A sale committed this long after the previous run started is still picked up.
OPEN_TRANSACTION_MARGIN = datetime.timedelta(minutes=15)


@dataclass(frozen=True)
class RollupResult:
    ran: bool
    days: int = 0
    months: int = 0


def _tz() -> datetime.tzinfo:
    return timezone.get_current_timezone()


def _day_start(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=_tz())


def _local_day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=_tz())


def _month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def _next_month(month: datetime.date) -> datetime.date:
    return (month + datetime.timedelta(days=32)).replace(day=1)


def day_ranges(days: Iterable[datetime.date]) -> list[tuple[datetime.date, datetime.date]]:
    """Sorted days grouped into contiguous (first, last) ranges, both ends included."""
    ranges: list[tuple[datetime.date, datetime.date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] + datetime.timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


# --- which days changed ------------------------------------------------------------------------


def _days_in(queryset: QuerySet, field: str) -> set[datetime.date]:
    return set(
        queryset.annotate(d=_local_day(field)).order_by().values_list("d", flat=True).distinct()
    )


def rollup_touched_days(*, since: datetime.datetime, today: datetime.date) -> set[datetime.date]:
    """Local days whose roll-ups may differ from what a run started at ``since`` wrote."""
    days = _days_in(Purchase.objects.filter(created_at__gte=since), "occurred_at")
    refunds = Refund.objects.filter(created_at__gte=since)
    days |= _days_in(refunds, "occurred_at")
    days |= _days_in(refunds, "purchase__occurred_at")
    day = timezone.localdate(since)
    while day <= today:
        days.add(day)
        day += datetime.timedelta(days=1)
    return {d for d in days if d <= today}


def _first_day_with_data() -> datetime.date | None:
    firsts = [
        Purchase.objects.aggregate(m=Min("occurred_at"))["m"],
        PointEntry.objects.aggregate(m=Min("occurred_at"))["m"],
        LinkEvent.objects.aggregate(m=Min("occurred_at"))["m"],
    ]
    known = [timezone.localdate(f) for f in firsts if f is not None]
    return min(known) if known else None


# --- the computations ----------------------------------------------------------------------


def _link_state_at_purchase() -> Coalesce:
    """'linked' when the member's latest link event before the sale was a link, else ''."""
    latest = (
        LinkEvent.objects.filter(
            member=OuterRef("member"), occurred_at__lte=OuterRef("occurred_at")
        )
        .order_by("-occurred_at", "-id")
        .values("action")[:1]
    )
    # Never NULL: exclude(link_state="linked") must keep members who never linked.
    return Coalesce(Subquery(latest), Value(""))


def _purchases_between(first: datetime.date, last: datetime.date) -> QuerySet[Purchase]:
    return Purchase.objects.filter(
        occurred_at__gte=_day_start(first),
        occurred_at__lt=_day_start(last + datetime.timedelta(days=1)),
    )


def _rows(queryset: QuerySet) -> list[dict[str, Any]]:
    """``values()`` rows as plain dicts (the stubs cannot type names built at run time)."""
    return list(queryset)


def _sum(expression: Any) -> Coalesce:
    return Coalesce(Sum(expression), 0, output_field=IntegerField())


def _sales_rows(first: datetime.date, last: datetime.date) -> list[SalesDay]:
    net = F("total") - F("refunded_amount")
    is_member = Q(member__isnull=False)
    totals = (
        _purchases_between(first, last)
        .annotate(d=_local_day("occurred_at"))
        .order_by()
        .values("d", "store_id")
        .annotate(
            purchases=Count("id"),
            gross=_sum("total"),
            refunded=_sum("refunded_amount"),
            member_purchases=Count("id", filter=is_member),
            member_net=Coalesce(Sum(net, filter=is_member), 0, output_field=IntegerField()),
            earned=_sum("points_earned"),
            redeemed=_sum("points_redeemed"),
            reversed=_sum("points_reversed"),
            restored=_sum("points_restored"),
            unrecovered=_sum("points_unrecovered"),
        )
    )
    # A second query so that the per-sale link lookup runs once per member sale.
    linked = (
        _purchases_between(first, last)
        .filter(member__isnull=False)
        .annotate(link_state=_link_state_at_purchase())
        .filter(link_state=LinkAction.LINKED)
        .annotate(d=_local_day("occurred_at"))
        .order_by()
        .values("d", "store_id")
        .annotate(n=Count("id"), net=_sum(net))
    )
    linked_by_key = {(r["d"], r["store_id"]): r for r in linked}
    rows = []
    for r in totals:
        link = linked_by_key.get((r["d"], r["store_id"]), {"n": 0, "net": 0})
        rows.append(
            SalesDay(
                day=r["d"],
                store_id=r["store_id"],
                purchases=r["purchases"],
                gross_sales=r["gross"],
                refunded=r["refunded"],
                member_purchases=r["member_purchases"],
                member_net_sales=r["member_net"],
                linked_purchases=link["n"],
                linked_net_sales=link["net"],
                points_earned=r["earned"],
                points_redeemed=r["redeemed"],
                points_reversed=r["reversed"],
                points_restored=r["restored"],
                points_unrecovered=r["unrecovered"],
            )
        )
    return rows


def _link_rows(first: datetime.date, last: datetime.date) -> list[LinkDay]:
    rows = (
        LinkEvent.objects.filter(
            action__in=[LinkAction.LINKED, LinkAction.UNLINKED],
            occurred_at__gte=_day_start(first),
            occurred_at__lt=_day_start(last + datetime.timedelta(days=1)),
        )
        .annotate(d=_local_day("occurred_at"))
        .order_by()
        .values("d", "source", "store_id")
        .annotate(
            linked=Count("id", filter=Q(action=LinkAction.LINKED)),
            unlinked=Count("id", filter=Q(action=LinkAction.UNLINKED)),
        )
    )
    return [
        LinkDay(
            day=r["d"],
            source=r["source"],
            store_id=r["store_id"],
            linked=r["linked"],
            unlinked=r["unlinked"],
        )
        for r in rows
    ]


# (field, ledger kind, sign of delta) for each PointsDay column.
_POINT_COLUMNS = [
    ("earned", EntryKind.EARN, 1),
    ("bonus", EntryKind.BONUS, 1),
    ("adjusted_in", EntryKind.ADJUST, 1),
    ("adjusted_out", EntryKind.ADJUST, -1),
    ("redeemed", EntryKind.REDEEM, -1),
    ("expired", EntryKind.EXPIRE, -1),
    ("reversed", EntryKind.REVERSAL, -1),
    ("restored", EntryKind.REVERSAL, 1),
]


def _points_rows(first: datetime.date, last: datetime.date) -> list[PointsDay]:
    aggregates = {
        column: Coalesce(
            Sum(
                F("delta") * sign,
                filter=Q(kind=kind, delta__gt=0) if sign > 0 else Q(kind=kind, delta__lt=0),
            ),
            0,
            output_field=IntegerField(),
        )
        for column, kind, sign in _POINT_COLUMNS
    }
    rows = (
        PointEntry.objects.filter(
            occurred_at__gte=_day_start(first),
            occurred_at__lt=_day_start(last + datetime.timedelta(days=1)),
        )
        .annotate(d=_local_day("occurred_at"))
        .order_by()
        .values("d")
        .annotate(**aggregates)
    )
    columns = [column for column, _kind, _sign in _POINT_COLUMNS]
    return [PointsDay(day=r["d"], **{c: r[c] for c in columns}) for r in _rows(rows)]


def _member_month_rows(month: datetime.date) -> list[MemberMonth]:
    sales = (
        _purchases_between(month, _next_month(month) - datetime.timedelta(days=1))
        .filter(member__isnull=False)
        .order_by()
    )
    with_state = sales.annotate(link_state=_link_state_at_purchase())
    linked = with_state.filter(link_state=LinkAction.LINKED)
    unlinked = with_state.exclude(link_state=LinkAction.LINKED)
    counts: dict[str, Any] = {"n": Count("member_id", distinct=True), "visits": Count("id")}
    by_store: dict[int | None, MemberMonth] = {}

    def row(store_id: int | None) -> MemberMonth:
        return by_store.setdefault(store_id, MemberMonth(month=month, store_id=store_id))

    for r in _rows(sales.values("store_id").annotate(**counts)):
        row(r["store_id"]).members, row(r["store_id"]).visits = r["n"], r["visits"]
    for r in _rows(linked.values("store_id").annotate(**counts)):
        row(r["store_id"]).linked_members = r["n"]
        row(r["store_id"]).linked_visits = r["visits"]
    for r in _rows(unlinked.values("store_id").annotate(**counts)):
        row(r["store_id"]).unlinked_members = r["n"]
    whole = sales.aggregate(**counts)
    if whole["visits"]:
        chain = row(None)
        chain.members, chain.visits = whole["n"], whole["visits"]
        linked_whole = linked.aggregate(**counts)
        chain.linked_members, chain.linked_visits = linked_whole["n"], linked_whole["visits"]
        chain.unlinked_members = unlinked.aggregate(**counts)["n"]
    return list(by_store.values())


def _friend_counts(friends: QuerySet[LineFriend]) -> dict[str, int]:
    # A blocked user followed once, even if we missed the follow event.
    ever_followed = Q(followed_at__isnull=False) | Q(is_blocked=True)
    effective = Q(followed_at__isnull=False, is_blocked=False)
    return friends.filter(ever_followed).aggregate(
        friends=Count("id"),
        blocked=Count("id", filter=Q(is_blocked=True)),
        linked_effective=Count("id", filter=effective & Q(member__isnull=False)),
    )


def _snapshot_write(*, day: datetime.date, now: datetime.datetime) -> None:
    counts = _friend_counts(LineFriend.objects.all())
    members = Member.objects.filter(status=MemberStatus.ACTIVE).count()
    # Every balance is a liability, withdrawn members' too until their points are settled.
    liability = Member.objects.aggregate(s=_sum("points_balance"))["s"]
    Snapshot.objects.update_or_create(
        day=day,
        defaults={
            "taken_at": now,
            "friends": counts["friends"],
            "blocked": counts["blocked"],
            "linked": LineFriend.objects.filter(member__isnull=False).count(),
            "linked_effective": counts["linked_effective"],
            "members": members,
            "liability": liability,
        },
    )
    StoreFriendSnapshot.objects.filter(day=day).delete()
    per_store = (
        LineFriend.objects.filter(acquired_store__isnull=False)
        .filter(Q(followed_at__isnull=False) | Q(is_blocked=True) | Q(member__isnull=False))
        .order_by()
        .values("acquired_store_id")
        .annotate(
            friends=Count("id", filter=Q(followed_at__isnull=False) | Q(is_blocked=True)),
            blocked=Count("id", filter=Q(is_blocked=True)),
            linked=Count("id", filter=Q(member__isnull=False)),
            linked_effective=Count(
                "id", filter=Q(followed_at__isnull=False, is_blocked=False, member__isnull=False)
            ),
        )
    )
    StoreFriendSnapshot.objects.bulk_create(
        StoreFriendSnapshot(
            day=day,
            store_id=r["acquired_store_id"],
            friends=r["friends"],
            blocked=r["blocked"],
            linked=r["linked"],
            linked_effective=r["linked_effective"],
        )
        for r in per_store
    )
    TierSnapshot.objects.filter(day=day).delete()
    tiers = (
        Member.objects.filter(status=MemberStatus.ACTIVE)
        .order_by()
        .values("tier_id")
        .annotate(n=Count("id"))
    )
    TierSnapshot.objects.bulk_create(
        TierSnapshot(day=day, tier_id=r["tier_id"], members=r["n"]) for r in tiers
    )


# --- the run -------------------------------------------------------------------------------


def rollup_days(*, first: datetime.date, last: datetime.date) -> None:
    """Recompute the daily roll-ups of ``first``..``last`` (both included) from scratch.

    Call inside ``rollup_run``'s transaction (or a test's); it deletes and re-inserts.
    """
    SalesDay.objects.filter(day__gte=first, day__lte=last).delete()
    SalesDay.objects.bulk_create(_sales_rows(first, last), batch_size=2000)
    LinkDay.objects.filter(day__gte=first, day__lte=last).delete()
    LinkDay.objects.bulk_create(_link_rows(first, last), batch_size=2000)
    PointsDay.objects.filter(day__gte=first, day__lte=last).delete()
    PointsDay.objects.bulk_create(_points_rows(first, last), batch_size=2000)


def rollup_month(*, month: datetime.date) -> None:
    MemberMonth.objects.filter(month=month).delete()
    MemberMonth.objects.bulk_create(_member_month_rows(month))


def rollup_run(*, full: bool = False, now: datetime.datetime | None = None) -> RollupResult:
    """Bring every roll-up up to date; see the module docstring.

    ``full`` recomputes every day since the first sale, link or ledger entry. Returns
    ``ran=False`` when another run holds the lock.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    RollupState.objects.get_or_create(pk=1)
    with transaction.atomic():
        state = RollupState.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if state is None:
            logger.info("another roll-up is running; nothing to do")
            return RollupResult(ran=False)
        if full or state.last_started_at is None:
            first = _first_day_with_data() or today
            days: set[datetime.date] = set()
            day = first
            while day <= today:
                days.add(day)
                day += datetime.timedelta(days=1)
        else:
            days = rollup_touched_days(
                since=state.last_started_at - OPEN_TRANSACTION_MARGIN, today=today
            )
        for first_day, last_day in day_ranges(days):
            rollup_days(first=first_day, last=last_day)
        months = sorted({_month_start(d) for d in days})
        for month in months:
            rollup_month(month=month)
        _snapshot_write(day=today, now=now)
        state.last_started_at = now
        state.last_finished_at = timezone.now()
        state.save(update_fields=["last_started_at", "last_finished_at"])
    return RollupResult(ran=True, days=len(days), months=len(months))
