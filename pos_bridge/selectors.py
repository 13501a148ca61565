"""Reads over stores, purchases and refunds."""

import datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from common import rowsql
from membership.models import Member
from pos_bridge.models import Purchase, Terminal

TIER_WINDOW = datetime.timedelta(days=365)


@rowsql.statement
def _spend_sql() -> str:
    return (
        f"SELECT SUM(total - refunded_amount) FROM {rowsql.table(Purchase)}"  # noqa: S608
        " WHERE member_id = %s AND occurred_at > %s AND occurred_at <= %s"
    )


def member_spend_12m(*, member: Member, at: datetime.datetime | None = None) -> int:
    """Tax-included spend net of refunds over the 365 days up to ``at`` (default now).

    Runs on every member purchase and refund, so it is plain SQL (see ``common.rowsql``);
    the covering index ``purchase_member_time_cover`` answers it without reading the table.
    """
    at = at or timezone.now()
    field = Purchase._meta.get_field("occurred_at")
    spend = rowsql.fetch_value(
        _spend_sql(),
        [
            member.pk,
            field.get_db_prep_value(at - TIER_WINDOW, connection),
            field.get_db_prep_value(at, connection),
        ],
    )
    return int(spend or 0)


def purchase_for_terminal(*, terminal: Terminal, purchase_id: int) -> Purchase | None:
    """A purchase of the terminal's own store, with items and refunds; None otherwise."""
    return (
        Purchase.objects.select_related("member", "member__tier", "store")
        .prefetch_related("items", "refunds")
        .filter(pk=purchase_id, store_id=terminal.store_id)
        .first()
    )


def purchases_for_member(
    *, member: Member, limit: int, before_id: int | None = None
) -> list[Purchase]:
    """A member's purchases, newest first (by purchase time, then id), with store and refunds.

    ``before_id`` is the keyset cursor: the purchases that come after that one (of the same
    member) in this order. An unknown cursor gives an empty page.
    """
    purchases = (
        Purchase.objects.select_related("store")
        .prefetch_related("refunds")
        .filter(member=member)
        .order_by("-occurred_at", "-id")
    )
    if before_id is not None:
        cursor = Purchase.objects.filter(pk=before_id, member=member).values("occurred_at").first()
        if cursor is None:
            return []
        at = cursor["occurred_at"]
        purchases = purchases.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=before_id))
    return list(purchases[:limit])
