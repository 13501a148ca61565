"""Reads for the HQ purchase data and member pages.

Every purchase query is bounded by an indexed column: a period on ``occurred_at`` (indexes
(store, occurred_at) and (occurred_at, id)), a member (member, occurred_at), or a receipt
number ((store, receipt_number) unique). Without a card or receipt number the period is
mandatory and at most ``PERIOD_MAX_DAYS`` long, so totals never scan the whole table.
Lists page by keyset (occurred_at, id), never by OFFSET.
"""

import datetime
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Count, F, Q, QuerySet, Sum, Value, prefetch_related_objects
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from broadcasts.selectors import BroadcastReceived, broadcasts_received
from hq.purchase_filters import FilterInvalid, PurchaseFilter, purchase_conditions_q
from hq.roles import HqAccess
from hq.services.exports import mask_email, mask_name, mask_phone
from line_messaging.models import (
    LineFriend,
    LinkEvent,
    OutboxKind,
    OutboxMessage,
    WebhookEvent,
)
from membership.errors import CardNumberInvalid
from membership.models import Member, MemberStatus, PointEntry
from membership.selectors import ExpiringPoints, point_entries_for_member, points_expiring
from membership.services.members import card_number_normalize
from pos_bridge.models import Purchase
from pos_bridge.selectors import purchases_for_member

PAGE_SIZE = 50
SUMMARY_MEMBERS_MAX = 100
Row = TypeVar("Row")


def purchases_filtered(*, flt: PurchaseFilter, access: HqAccess) -> QuerySet[Purchase]:
    """Purchases matching the filter that ``access`` may see (a store role: its store only).

    The caller refuses a store role asking for another store; here the scope is forced
    again so no path can widen it.
    """
    qs: QuerySet[Purchase] = Purchase.objects.all()
    start, end = flt.time_range()
    if start:
        qs = qs.filter(occurred_at__gte=start)
    if end:
        qs = qs.filter(occurred_at__lt=end)
    if access.store is not None:
        qs = qs.filter(store_id=access.store.pk)
    elif flt.store_code:
        qs = qs.filter(store__code=flt.store_code)
    return qs.filter(purchase_conditions_q(flt.conditions))


@dataclass(frozen=True)
class PurchaseTotals:
    count: int
    sales: int
    refunded: int
    points_earned: int
    points_redeemed: int
    points_unrecovered: int

    @property
    def net_sales(self) -> int:
        return self.sales - self.refunded


def _sums() -> dict[str, Any]:
    def total(name: str) -> Coalesce:
        return Coalesce(Sum(name), Value(0))

    return {
        "count": Count("id"),
        "sales": total("total"),
        "refunded": total("refunded_amount"),
        "points_earned": total("points_earned"),
        "points_redeemed": total("points_redeemed"),
        "points_unrecovered": total("points_unrecovered"),
    }


def purchase_totals(*, purchases: QuerySet[Purchase]) -> PurchaseTotals:
    return PurchaseTotals(**purchases.order_by().aggregate(**_sums()))


@dataclass(frozen=True)
class SummaryRow:
    key: str
    label: str
    totals: PurchaseTotals


def _totals_from(row: dict[str, Any]) -> PurchaseTotals:
    return PurchaseTotals(**{name: row[name] for name in _sums()})


def purchase_summary(*, purchases: QuerySet[Purchase], by: str) -> list[SummaryRow]:
    """Totals of the filtered purchases per ``store``, local ``day`` or ``member`` (top
    ``SUMMARY_MEMBERS_MAX`` by sales)."""
    qs = purchases.order_by()
    if by == "store":
        stores = qs.values("store__code", "store__name").annotate(**_sums())
        return [
            SummaryRow(r["store__code"], r["store__name"], _totals_from(dict(r)))
            for r in stores.order_by("store__code")
        ]
    if by == "day":
        day = TruncDate("occurred_at", tzinfo=timezone.get_current_timezone())
        days = qs.annotate(day=day).values("day").annotate(**_sums())
        return [
            SummaryRow(r["day"].isoformat(), r["day"].isoformat(), _totals_from(dict(r)))
            for r in days.order_by("-day")
        ]
    if by == "member":
        members = qs.filter(member__isnull=False).values("member__card_number").annotate(**_sums())
        top = members.order_by(F("sales").desc(), "member__card_number")[:SUMMARY_MEMBERS_MAX]
        return [
            SummaryRow(r["member__card_number"], r["member__card_number"], _totals_from(dict(r)))
            for r in top
        ]
    raise ValueError(f"unknown summary {by!r}")


@dataclass(frozen=True)
class KeysetPage(Generic[Row]):
    items: list[Row]
    # The cursor of the next page (pass as ``after``), None on the last page.
    next_cursor: str | None


_CURSOR = re.compile(r"(-?\d{1,20})\.(\d{1,20})")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _cursor_encode(purchase: Purchase) -> str:
    micros = (purchase.occurred_at - _EPOCH) // datetime.timedelta(microseconds=1)
    return f"{micros}.{purchase.pk}"


def _cursor_decode(cursor: str) -> tuple[datetime.datetime, int]:
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise FilterInvalid(
            ["ページの指定が正しくありません。最初のページから開き直してください。"]
        )
    try:
        at = _EPOCH + datetime.timedelta(microseconds=int(match[1]))
    except OverflowError as exc:
        raise FilterInvalid(["ページの指定が正しくありません。"]) from exc
    return at, int(match[2])


def purchase_page(*, purchases: QuerySet[Purchase], after: str = "") -> KeysetPage[Purchase]:
    """One page, newest first by (occurred_at, id); ``after`` is the previous page's cursor."""
    qs = purchases.select_related("store", "member").order_by("-occurred_at", "-id")
    if after:
        at, pk = _cursor_decode(after)
        qs = qs.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=pk))
    rows = list(qs[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    items = rows[:PAGE_SIZE]
    return KeysetPage(items=items, next_cursor=_cursor_encode(items[-1]) if more else None)


def purchase_detail(*, purchase_id: int, access: HqAccess) -> Purchase | None:
    """A purchase with items and refunds; None when it does not exist or is another store's
    (a store role cannot tell the two apart)."""
    qs = Purchase.objects.select_related("store", "terminal", "member", "recorded_by")
    if access.store is not None:
        qs = qs.filter(store_id=access.store.pk)
    return qs.prefetch_related("items", "refunds").filter(pk=purchase_id).first()


# --- members ---------------------------------------------------------------------------------

SEARCH_FIELDS = {
    "card": "会員番号",
    "phone": "電話番号",
    "kana": "氏名(カナ)",
    "line": "LINE表示名",
}
# Searching by personal data would tell an analyst whether a given person is a member.
ANALYST_SEARCH_FIELDS = ("card",)
SEARCH_RESULTS_MAX = 50
_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(ord("ぁ"), ord("ゖ") + 1)}


def members_search(*, field_name: str, text: str) -> list[Member]:
    """Members matching ``text`` on one field (exact card number or phone; prefix of the
    kana name or the LINE display name), at most ``SEARCH_RESULTS_MAX``."""
    text = text.strip()
    if not text or field_name not in SEARCH_FIELDS:
        return []
    members = Member.objects.select_related("tier", "line_friend").order_by("id")
    if field_name == "card":
        try:
            number = card_number_normalize(text)
        except CardNumberInvalid:
            return []
        members = members.filter(card_number=number)
    elif field_name == "phone":
        digits = re.sub(
            r"\D", "", text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
        )
        variants = {text, digits}
        if len(digits) in (10, 11):
            # Stored as typed at registration: hyphenated mobile (3-4-4) or landline (2-4-4).
            variants |= {f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"}
            variants |= {f"{digits[:2]}-{digits[2:6]}-{digits[6:]}"}
        members = members.filter(phone__in=[v for v in variants if v])
    elif field_name == "kana":
        members = members.filter(name_kana__startswith=text.translate(_HIRAGANA_TO_KATAKANA))
    else:
        members = members.filter(line_friend__display_name__startswith=text)
    return list(members[:SEARCH_RESULTS_MAX])


@dataclass(frozen=True)
class MemberProfile:
    """The member's personal data as this viewer may see it."""

    name: str
    name_kana: str
    phone: str
    email: str
    birth: str
    masked: bool


def member_profile(*, member: Member, masked: bool) -> MemberProfile:
    if masked:
        return MemberProfile(
            name=mask_name(member.name),
            name_kana=mask_name(member.name_kana),
            phone=mask_phone(member.phone),
            email=mask_email(member.email),
            birth=f"{member.birth_date.year}年",
            masked=True,
        )
    return MemberProfile(
        name=member.name,
        name_kana=member.name_kana,
        phone=member.phone,
        email=member.email,
        birth=member.birth_date.isoformat(),
        masked=False,
    )


def mask_display_name(name: str) -> str:
    """A LINE display name is free text, often a real name: keep its first character."""
    return f"{name[:1]}***" if name else ""


@dataclass(frozen=True)
class SentMessage:
    message: OutboxMessage
    summary: str


def _message_summary(message: OutboxMessage) -> str:
    if message.kind in (OutboxKind.RICHMENU_LINK, OutboxKind.RICHMENU_UNLINK):
        return message.get_kind_display()
    if message.kind == OutboxKind.LINK_TOKEN:
        return "連携URLの発行"
    parts = []
    for body in (message.payload or {}).get("messages") or []:
        kind = body.get("type")
        if kind == "text":
            parts.append(str(body.get("text", "")))
        elif kind in ("flex", "template"):
            parts.append(f"[{kind}] {body.get('altText', '')}")
        else:
            parts.append(f"[{kind}]")
    return " / ".join(parts)[:300]


@dataclass(frozen=True)
class MemberLine:
    """The member's LINE side: the linked friend now, and every LINE user ever linked."""

    friend: LineFriend | None
    link_events: list[LinkEvent]
    messages: list[SentMessage]
    follow_events: list[WebhookEvent]
    broadcasts: list[BroadcastReceived]


MEMBER_LINE_ROWS = 50


def _message_summaries(
    rows: list[OutboxMessage], *, member: Member, friend: LineFriend | None, masked: bool
) -> list[SentMessage]:
    """Message texts as this viewer may read them.

    Texts were rendered with the member's name: an analyst gets the names masked, and for a
    withdrawn member (whose name is erased here but not in sent messages) no text is shown.
    """
    if member.status == MemberStatus.WITHDRAWN:
        return [
            SentMessage(message=row, summary="(退会済みのため本文は表示しません)") for row in rows
        ]
    secrets = []
    if masked:
        for value, masker in (
            (member.name, mask_name),
            (member.name_kana, mask_name),
            (friend.display_name if friend else "", mask_display_name),
        ):
            if value:
                secrets.append((value, masker(value)))
    messages = []
    for row in rows:
        summary = _message_summary(row)
        for value, replacement in secrets:
            summary = summary.replace(value, replacement)
        messages.append(SentMessage(message=row, summary=summary))
    return messages


def member_line(*, member: Member, masked: bool = False) -> MemberLine:
    friend = LineFriend.objects.select_related("acquired_store").filter(member=member).first()
    events = list(
        LinkEvent.objects.select_related("friend", "store")
        .filter(member=member)
        .order_by("-occurred_at", "-id")[:MEMBER_LINE_ROWS]
    )
    # A member unlinked (or withdrawn) keeps its history: messages went to every LINE user
    # it was ever linked to.
    user_ids = sorted({e.friend.user_id for e in events} | ({friend.user_id} if friend else set()))
    messages: list[SentMessage] = []
    follows: list[WebhookEvent] = []
    if user_ids:
        rows = OutboxMessage.objects.filter(line_user_id__in=user_ids).order_by("-id")
        messages = _message_summaries(
            list(rows[:MEMBER_LINE_ROWS]), member=member, friend=friend, masked=masked
        )
        follows = list(
            WebhookEvent.objects.filter(
                line_user_id__in=user_ids, event_type__in=["follow", "unfollow"]
            )
            .order_by("-timestamp")
            .defer("payload")[:MEMBER_LINE_ROWS]
        )
    received: list[BroadcastReceived] = []
    for user_id in user_ids:
        received += broadcasts_received(line_user_id=user_id)
    received.sort(key=lambda b: b.queued_at, reverse=True)
    return MemberLine(
        friend=friend,
        link_events=events,
        messages=messages,
        follow_events=follows,
        broadcasts=received[:MEMBER_LINE_ROWS],
    )


@dataclass(frozen=True)
class MemberOverview:
    expiring: list[ExpiringPoints]
    totals: PurchaseTotals


def member_overview(*, member: Member) -> MemberOverview:
    return MemberOverview(
        expiring=points_expiring(member=member, within_days=90),
        totals=purchase_totals(purchases=Purchase.objects.filter(member=member)),
    )


@dataclass(frozen=True)
class IdPage(Generic[Row]):
    items: list[Row]
    next_before: int | None


def member_purchase_page(*, member: Member, before: int | None) -> IdPage[Purchase]:
    """A page of the member's purchases with items and refunds, newest first."""
    rows = purchases_for_member(member=member, limit=PAGE_SIZE + 1, before_id=before)
    items = rows[:PAGE_SIZE]
    prefetch_related_objects(items, "items")
    more = len(rows) > PAGE_SIZE
    return IdPage(items=items, next_before=items[-1].pk if more else None)


def member_entry_page(*, member: Member, before: int | None) -> IdPage[PointEntry]:
    rows = list(point_entries_for_member(member=member, limit=PAGE_SIZE + 1, before_id=before))
    items = rows[:PAGE_SIZE]
    more = len(rows) > PAGE_SIZE
    return IdPage(items=items, next_before=items[-1].pk if more else None)
