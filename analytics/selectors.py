"""Every KPI of the HQ dashboard, defined once, read from the roll-ups only.

The roll-ups (``analytics.models``, kept by ``rollup_stats``) hold one row per day and store
at most, so each query here reads a few thousand rows whatever the size of the chain.

Definitions (days are local calendar days, both ends of a range included):
- friends: LINE users who followed the account (blocked ones included); effective friends:
  friends who have not blocked it. A LIFF user who never followed is not a friend.
- linked members: LINE users linked to a member now; the link rate is linked *effective*
  friends ÷ effective friends, so a blocked or never-followed linked user, whom messages
  cannot reach, does not push it above what LINE can actually deliver to.
- sales: tax-included totals of the purchases made in the range, net of their refunds
  (a refund is charged to the day of the purchase it refunds).
- linked sales: sales to members who were linked at the moment of the purchase.
- points: ledger movements by the day they occurred; unrecovered points are those the
  refunds of the range's purchases could not take back (already spent or expired).
- liability, friends and tiers: point-in-time, from the latest snapshot on or before the
  end of the range.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max, Q, QuerySet, Sum

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
from line_messaging.models import LinkSource
from membership.models import Tier
from pos_bridge.models import Store


@dataclass(frozen=True)
class DashboardFilter:
    date_from: datetime.date
    date_to: datetime.date
    store: Store | None = None

    @property
    def days(self) -> list[datetime.date]:
        count = (self.date_to - self.date_from).days + 1
        return [self.date_from + datetime.timedelta(days=i) for i in range(count)]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _average(total: int, count: int) -> int | None:
    # Yen are integers: round half up rather than showing fractions of a yen.
    return (total * 2 + count) // (count * 2) if count else None


# --- friends and links -------------------------------------------------------------------------


@dataclass(frozen=True)
class FriendKpis:
    as_of: datetime.datetime | None
    friends: int = 0
    blocked: int = 0
    linked: int = 0
    linked_effective: int = 0

    @property
    def effective(self) -> int:
        return self.friends - self.blocked

    @property
    def link_rate(self) -> float | None:
        return _ratio(self.linked_effective, self.effective)


def kpi_friends(*, flt: DashboardFilter) -> FriendKpis:
    """Friends as of the end of the range; with a store, those its poster brought in."""
    latest = Snapshot.objects.filter(day__lte=flt.date_to).order_by("-day").first()
    if latest is None:
        return FriendKpis(as_of=None)
    if flt.store is None:
        return FriendKpis(
            as_of=latest.taken_at,
            friends=latest.friends,
            blocked=latest.blocked,
            linked=latest.linked,
            linked_effective=latest.linked_effective,
        )
    row = StoreFriendSnapshot.objects.filter(day=latest.day, store=flt.store).first()
    if row is None:
        return FriendKpis(as_of=latest.taken_at)
    return FriendKpis(
        as_of=latest.taken_at,
        friends=row.friends,
        blocked=row.blocked,
        linked=row.linked,
        linked_effective=row.linked_effective,
    )


@dataclass(frozen=True)
class LinksOnDay:
    day: datetime.date
    by_source: dict[str, int]
    unlinked: int

    @property
    def linked(self) -> int:
        return sum(self.by_source.values())

    @property
    def counts(self) -> list[int]:
        """Links per source in ``LINK_SOURCES`` order (for tables)."""
        return [self.by_source[source] for source, _label in LINK_SOURCES]


LINK_SOURCES = [(s.value, str(s.label)) for s in LinkSource]


def _link_days(flt: DashboardFilter) -> QuerySet[LinkDay]:
    rows = LinkDay.objects.filter(day__gte=flt.date_from, day__lte=flt.date_to)
    return rows.filter(store=flt.store) if flt.store is not None else rows


def kpi_links_by_day(*, flt: DashboardFilter) -> list[LinksOnDay]:
    """New links per day by source (and unlinks), every day of the range."""
    linked: dict[datetime.date, dict[str, int]] = defaultdict(dict)
    unlinked: dict[datetime.date, int] = defaultdict(int)
    rows = _link_days(flt).order_by().values("day", "source")
    for r in rows.annotate(linked=Sum("linked"), unlinked=Sum("unlinked")):
        if r["linked"]:
            linked[r["day"]][r["source"]] = r["linked"]
        unlinked[r["day"]] += r["unlinked"]
    return [
        LinksOnDay(
            day=day,
            by_source={source: linked[day].get(source, 0) for source, _label in LINK_SOURCES},
            unlinked=unlinked[day],
        )
        for day in flt.days
    ]


@dataclass(frozen=True)
class StoreLinks:
    store: Store
    poster: int
    other: int


def kpi_links_by_store(*, flt: DashboardFilter) -> list[StoreLinks]:
    """Links of friends each store brought in, split into poster links and later links."""
    rows = (
        _link_days(flt)
        .filter(store__isnull=False)
        .order_by()
        .values("store_id")
        .annotate(
            poster=Sum("linked", filter=Q(source=LinkSource.POSTER)),
            other=Sum("linked", filter=~Q(source=LinkSource.POSTER)),
        )
    )
    stores = Store.objects.in_bulk([r["store_id"] for r in rows])
    result = [
        StoreLinks(store=stores[r["store_id"]], poster=r["poster"] or 0, other=r["other"] or 0)
        for r in rows
        if (r["poster"] or r["other"])
    ]
    return sorted(result, key=lambda s: (-s.poster - s.other, s.store.code))


# --- sales -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesTotals:
    purchases: int = 0
    gross: int = 0
    refunded: int = 0
    member_purchases: int = 0
    member_net: int = 0
    linked_purchases: int = 0
    linked_net: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.refunded

    @property
    def linked_share(self) -> float | None:
        return _ratio(self.linked_net, self.net)

    @property
    def unlinked_member_purchases(self) -> int:
        return self.member_purchases - self.linked_purchases

    @property
    def unlinked_member_net(self) -> int:
        return self.member_net - self.linked_net

    @property
    def guest_purchases(self) -> int:
        return self.purchases - self.member_purchases

    @property
    def guest_net(self) -> int:
        return self.net - self.member_net

    @property
    def average(self) -> int | None:
        return _average(self.net, self.purchases)

    @property
    def average_linked(self) -> int | None:
        return _average(self.linked_net, self.linked_purchases)

    @property
    def average_unlinked_member(self) -> int | None:
        return _average(self.unlinked_member_net, self.unlinked_member_purchases)

    @property
    def average_guest(self) -> int | None:
        return _average(self.guest_net, self.guest_purchases)


_SALES_SUMS = {
    "purchases": Sum("purchases"),
    "gross": Sum("gross_sales"),
    "refunded": Sum("refunded"),
    "member_purchases": Sum("member_purchases"),
    "member_net": Sum("member_net_sales"),
    "linked_purchases": Sum("linked_purchases"),
    "linked_net": Sum("linked_net_sales"),
}


def _sales_days(flt: DashboardFilter) -> QuerySet[SalesDay]:
    rows = SalesDay.objects.filter(day__gte=flt.date_from, day__lte=flt.date_to)
    return rows.filter(store=flt.store) if flt.store is not None else rows


def _totals(row: Any) -> SalesTotals:
    return SalesTotals(**{name: row.get(name) or 0 for name in _SALES_SUMS})


def kpi_sales_totals(*, flt: DashboardFilter) -> SalesTotals:
    return _totals(_sales_days(flt).aggregate(**_SALES_SUMS))


@dataclass(frozen=True)
class SalesOnDay:
    day: datetime.date
    totals: SalesTotals


def kpi_sales_by_day(*, flt: DashboardFilter) -> list[SalesOnDay]:
    rows = _sales_days(flt).order_by().values("day").annotate(**_SALES_SUMS)
    by_day = {r["day"]: _totals(r) for r in rows}
    return [SalesOnDay(day=day, totals=by_day.get(day, SalesTotals())) for day in flt.days]


@dataclass(frozen=True)
class SalesOfStore:
    store: Store
    totals: SalesTotals


def kpi_sales_by_store(*, flt: DashboardFilter) -> list[SalesOfStore]:
    rows = list(_sales_days(flt).order_by().values("store_id").annotate(**_SALES_SUMS))
    stores = Store.objects.in_bulk([r["store_id"] for r in rows])
    result = [SalesOfStore(store=stores[r["store_id"]], totals=_totals(r)) for r in rows]
    return sorted(result, key=lambda s: (-s.totals.net, s.store.code))


# --- visits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthVisits:
    month: datetime.date
    members: int
    visits: int
    linked_members: int
    linked_visits: int
    unlinked_members: int

    @property
    def per_member(self) -> float | None:
        return _ratio(self.visits, self.members)

    @property
    def per_linked_member(self) -> float | None:
        return _ratio(self.linked_visits, self.linked_members)

    @property
    def per_unlinked_member(self) -> float | None:
        return _ratio(self.visits - self.linked_visits, self.unlinked_members)


def kpi_visits_by_month(*, flt: DashboardFilter) -> list[MonthVisits]:
    """Visits (member purchases) per purchasing member, per calendar month touching the range."""
    rows = MemberMonth.objects.filter(
        month__gte=flt.date_from.replace(day=1), month__lte=flt.date_to, store=flt.store
    ).order_by("month")
    return [
        MonthVisits(
            month=r.month,
            members=r.members,
            visits=r.visits,
            linked_members=r.linked_members,
            linked_visits=r.linked_visits,
            unlinked_members=r.unlinked_members,
        )
        for r in rows
    ]


# --- points ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointKpis:
    """Points moved in the range. Store-less fields are None when filtered by store: bonuses,
    adjustments and expiry belong to no store."""

    earned: int
    redeemed: int
    reversed: int
    restored: int
    unrecovered: int
    unrecovered_all_time: int
    bonus: int | None = None
    adjusted_in: int | None = None
    adjusted_out: int | None = None
    expired: int | None = None

    @property
    def issued(self) -> int:
        return self.earned + (self.bonus or 0) + (self.adjusted_in or 0)


def kpi_points(*, flt: DashboardFilter) -> PointKpis:
    sales = _sales_days(flt).aggregate(
        earned=Sum("points_earned"),
        redeemed=Sum("points_redeemed"),
        reversed=Sum("points_reversed"),
        restored=Sum("points_restored"),
        unrecovered=Sum("points_unrecovered"),
    )
    all_time = SalesDay.objects.filter(day__lte=flt.date_to)
    if flt.store is not None:
        all_time = all_time.filter(store=flt.store)
    unrecovered_all_time = all_time.aggregate(s=Sum("points_unrecovered"))["s"] or 0
    if flt.store is not None:
        return PointKpis(
            **{k: v or 0 for k, v in sales.items()}, unrecovered_all_time=unrecovered_all_time
        )
    ledger = PointsDay.objects.filter(day__gte=flt.date_from, day__lte=flt.date_to).aggregate(
        **{
            name: Sum(name)
            for name in (
                "earned",
                "bonus",
                "adjusted_in",
                "adjusted_out",
                "redeemed",
                "expired",
                "reversed",
                "restored",
            )
        }
    )
    return PointKpis(
        **{k: v or 0 for k, v in ledger.items()},
        unrecovered=sales["unrecovered"] or 0,
        unrecovered_all_time=unrecovered_all_time,
    )


# --- point in time -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TierShare:
    name: str
    members: int
    share: float | None


@dataclass(frozen=True)
class MemberKpis:
    as_of: datetime.datetime | None
    members: int = 0
    liability: int = 0
    tiers: list[TierShare] = field(default_factory=list)


def kpi_members(*, flt: DashboardFilter) -> MemberKpis:
    """Active members, outstanding points (liability) and tiers as of the end of the range."""
    latest = Snapshot.objects.filter(day__lte=flt.date_to).order_by("-day").first()
    if latest is None:
        return MemberKpis(as_of=None)
    rows = TierSnapshot.objects.filter(day=latest.day).values_list("tier_id", "members")
    # Key None: active members without a tier.
    counts: dict[int | None, int] = {tier_id: members for tier_id, members in rows}
    total = sum(counts.values())
    tiers = [
        TierShare(
            name=t.name, members=counts.get(t.pk, 0), share=_ratio(counts.get(t.pk, 0), total)
        )
        for t in Tier.objects.order_by("min_spend_12m", "pk")
    ]
    if counts.get(None):
        tiers.insert(
            0, TierShare(name="ランクなし", members=counts[None], share=_ratio(counts[None], total))
        )
    return MemberKpis(
        as_of=latest.taken_at, members=latest.members, liability=latest.liability, tiers=tiers
    )


def rollup_last_finished() -> datetime.datetime | None:
    return RollupState.objects.aggregate(m=Max("last_finished_at"))["m"]


@dataclass(frozen=True)
class Dashboard:
    flt: DashboardFilter
    updated_at: datetime.datetime | None
    friends: FriendKpis
    links_by_day: list[LinksOnDay]
    links_by_store: list[StoreLinks]
    sales: SalesTotals
    sales_by_day: list[SalesOnDay]
    sales_by_store: list[SalesOfStore]
    visits_by_month: list[MonthVisits]
    points: PointKpis
    members: MemberKpis | None

    @property
    def new_links(self) -> int:
        return sum(d.linked for d in self.links_by_day)

    @property
    def new_links_by_source(self) -> list[tuple[str, int]]:
        """(label, links in the range) per source."""
        return [
            (label, sum(d.by_source[source] for d in self.links_by_day))
            for source, label in LINK_SOURCES
        ]


def dashboard_get(*, flt: DashboardFilter) -> Dashboard:
    """Everything the dashboard shows. Member-wide figures (liability, tiers) belong to no
    store, so a store-filtered dashboard has ``members=None``."""
    return Dashboard(
        flt=flt,
        updated_at=rollup_last_finished(),
        friends=kpi_friends(flt=flt),
        links_by_day=kpi_links_by_day(flt=flt),
        links_by_store=kpi_links_by_store(flt=flt),
        sales=kpi_sales_totals(flt=flt),
        sales_by_day=kpi_sales_by_day(flt=flt),
        sales_by_store=kpi_sales_by_store(flt=flt),
        visits_by_month=kpi_visits_by_month(flt=flt),
        points=kpi_points(flt=flt),
        members=kpi_members(flt=flt) if flt.store is None else None,
    )
