"""Reads for the LIFF card: whose card, and the member's history."""

from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import QuerySet

from liff.errors import NotLinked
from line_messaging.models import LineFriend
from membership.models import Member, PointEntry
from membership.selectors import point_entries_for_member
from pos_bridge.models import Purchase, Store
from pos_bridge.selectors import purchases_for_member

HISTORY_PAGE_MAX = 50
Row = TypeVar("Row", Purchase, PointEntry)


def member_for_line_user(*, line_user_id: str) -> Member | None:
    """The member linked to this LINE user (with its tier), or None."""
    friend = (
        LineFriend.objects.select_related("member", "member__tier")
        .filter(user_id=line_user_id, member__isnull=False)
        .first()
    )
    return friend.member if friend is not None else None


def poster_store(*, code: str) -> Store | None:
    """The open store a poster's ``store`` code names; None for unknown or closed stores."""
    if not code:
        return None
    return Store.objects.filter(code=code, active=True).first()


@dataclass(frozen=True)
class Page(Generic[Row]):
    items: list[Row]
    # Pass as ``before`` to get the next page; None on the last page.
    next_before: int | None


def _page(rows: list[Row], limit: int) -> Page[Row]:
    # One row more than asked tells whether another page exists without a COUNT.
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items=items, next_before=items[-1].pk if more and items else None)


def purchase_page(*, member: Member, limit: int, before: int | None = None) -> Page[Purchase]:
    rows = purchases_for_member(member=member, limit=limit + 1, before_id=before)
    return _page(rows, limit)


def point_entry_page(*, member: Member, limit: int, before: int | None = None) -> Page[PointEntry]:
    entries: QuerySet[PointEntry] = point_entries_for_member(
        member=member, limit=limit + 1, before_id=before
    )
    return _page(list(entries.select_related("lot")), limit)


@dataclass(frozen=True)
class History:
    purchases: Page[Purchase] | None
    point_entries: Page[PointEntry] | None


def history_for_line_user(
    *, line_user_id: str, kind: str | None, before: int | None, limit: int
) -> History:
    """One page of the linked member's purchases and/or point entries, newest first.

    ``kind`` ``"purchases"`` or ``"points"`` pages one list from the ``before`` cursor; None
    gives the first page of both (and ignores ``before``). Raises ``NotLinked``.
    """
    member = member_for_line_user(line_user_id=line_user_id)
    if member is None:
        raise NotLinked()
    limit = max(1, min(limit, HISTORY_PAGE_MAX))
    if kind is None:
        before = None  # a cursor belongs to one list
    return History(
        purchases=purchase_page(member=member, limit=limit, before=before)
        if kind in (None, "purchases")
        else None,
        point_entries=point_entry_page(member=member, limit=limit, before=before)
        if kind in (None, "points")
        else None,
    )
