"""Reads over members and the point ledger."""

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import F, IntegerField, OuterRef, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce
from django.utils import timezone

from membership.models import LotConsumption, Member, PointEntry, PointLot


@dataclass(frozen=True)
class ExpiringPoints:
    points: int
    expires_on: datetime.date


def points_expiring(*, member: Member, within_days: int = 90) -> list[ExpiringPoints]:
    """Open lots expiring within ``within_days``, summed per expiry date, soonest first."""
    today = timezone.localdate()
    rows = (
        PointLot.objects.filter(
            member=member,
            remaining__gt=0,
            expires_on__gte=today,
            expires_on__lte=today + datetime.timedelta(days=within_days),
        )
        .values("expires_on")
        .annotate(points=Sum("remaining"))
        .order_by("expires_on")
    )
    return [ExpiringPoints(points=r["points"], expires_on=r["expires_on"]) for r in rows]


def point_entries_for_member(*, member: Member, limit: int = 50, before_id: int | None = None):
    entries = PointEntry.objects.filter(member=member).order_by("-id")
    if before_id is not None:
        entries = entries.filter(id__lt=before_id)
    return entries[:limit]


@dataclass(frozen=True)
class LedgerProblem:
    card_number: str
    member_id: int
    problem: str


def _subquery_sum(queryset, *, group_by: str, column: str) -> Coalesce:
    """Sum of ``column`` over ``queryset`` (already filtered on an OuterRef), 0 when empty."""
    return Coalesce(
        Subquery(
            queryset.order_by().values(group_by).annotate(s=Sum(column)).values("s"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


def ledger_problems() -> Iterator[LedgerProblem]:
    """Every way the ledger disagrees with itself, one row per member and problem.

    Checks: cached balance == sum of entries; cached balance == sum of open lots;
    per lot, remaining == points - consumed; per debit entry, consumed == -delta;
    per entry, balance_after == running sum of deltas (catches a lost update even when
    the totals happen to agree).
    """
    members = Member.objects.annotate(
        ledger=_subquery_sum(
            PointEntry.objects.filter(member=OuterRef("pk")), group_by="member", column="delta"
        ),
        lots=_subquery_sum(
            PointLot.objects.filter(member=OuterRef("pk")), group_by="member", column="remaining"
        ),
    )
    for m in members.exclude(points_balance=F("ledger")).values(
        "id", "card_number", "points_balance", "ledger"
    ):
        yield LedgerProblem(
            m["card_number"],
            m["id"],
            f"balance {m['points_balance']} != sum of entries {m['ledger']}",
        )
    for row in members.exclude(points_balance=F("lots")).values(
        "id", "card_number", "points_balance", "lots"
    ):
        yield LedgerProblem(
            row["card_number"],
            row["id"],
            f"balance {row['points_balance']} != sum of open lots {row['lots']}",
        )

    consumed_from_lot = _subquery_sum(
        LotConsumption.objects.filter(lot=OuterRef("pk")), group_by="lot", column="points"
    )
    lots = (
        PointLot.objects.annotate(consumed=consumed_from_lot)
        .exclude(remaining=F("points") - F("consumed"))
        .values("id", "member_id", "member__card_number", "points", "remaining", "consumed")
    )
    for lot in lots:
        yield LedgerProblem(
            lot["member__card_number"],
            lot["member_id"],
            f"lot {lot['id']}: remaining {lot['remaining']} != "
            f"{lot['points']} points - {lot['consumed']} consumed",
        )

    consumed_by_entry = _subquery_sum(
        LotConsumption.objects.filter(entry=OuterRef("pk")), group_by="entry", column="points"
    )
    debits = (
        PointEntry.objects.filter(delta__lt=0)
        .annotate(consumed=consumed_by_entry)
        .exclude(consumed=-F("delta"))
        .values("id", "member_id", "member__card_number", "delta", "consumed")
    )
    for entry in debits:
        yield LedgerProblem(
            entry["member__card_number"],
            entry["member_id"],
            f"entry {entry['id']}: debit {entry['delta']} drew {entry['consumed']} from lots",
        )

    broken_chain = (
        PointEntry.objects.annotate(
            running=Window(Sum("delta"), partition_by=[F("member_id")], order_by=F("id").asc())
        )
        .exclude(balance_after=F("running"))
        .values("id", "member_id", "member__card_number", "balance_after", "running")
    )
    for link in broken_chain:
        yield LedgerProblem(
            link["member__card_number"],
            link["member_id"],
            f"entry {link['id']}: balance_after {link['balance_after']} != "
            f"running sum {link['running']}",
        )
