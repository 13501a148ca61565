"""Purchase filters typed into the HQ purchase pages and the CSV export links.

Parsing only: every message is Japanese and names the field; nothing here queries beyond
the card-number normalisation and the store list a receipt search needs.
"""

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone

from common.periods import PeriodInvalid, day_bounds, query_period
from membership.errors import CardNumberInvalid
from membership.services.members import card_number_normalize
from pos_bridge.models import Store

PERIOD_DEFAULT_DAYS = 7
PERIOD_MAX_DAYS = 93
AMOUNT_MAX = 100_000_000


class FilterInvalid(ValueError):
    """A filter the user typed cannot be read; ``messages`` are in Japanese, one per field."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__(" / ".join(messages))


# Who made the purchase. "Linked" is the member's LINE link state now, not at purchase time.
MEMBER_KINDS = {
    "": "すべて",
    "linked": "LINE連携中の会員",
    "unlinked": "LINE未連携の会員",
    "guest": "会員証なし",
}


@dataclass(frozen=True)
class PurchaseConditions:
    """The purchase filters besides period and store (shared with the CSV exports)."""

    card_number: str = ""
    receipt_number: str = ""
    amount_min: int | None = None
    amount_max: int | None = None
    member_kind: str = ""

    @property
    def narrows_to_member_or_receipt(self) -> bool:
        return bool(self.card_number or self.receipt_number)


def purchase_conditions_parse(query: Any) -> PurchaseConditions:
    """From ``?card=&receipt=&amount_min=&amount_max=&member=``; raises ``FilterInvalid``."""
    errors: list[str] = []

    def text(name: str) -> str:
        return (query.get(name) or "").strip()

    card = text("card")
    if card:
        try:
            card = card_number_normalize(card)
        except CardNumberInvalid:
            errors.append("会員番号は4〜20桁の数字で入力してください。")

    def amount(name: str, label: str) -> int | None:
        raw = text(name).replace(",", "")
        if not raw:
            return None
        if not raw.isdigit() or int(raw) > AMOUNT_MAX:
            errors.append(f"{label}は0〜{AMOUNT_MAX:,}の整数(円)で入力してください。")
            return None
        return int(raw)

    amount_min = amount("amount_min", "金額(下限)")
    amount_max = amount("amount_max", "金額(上限)")
    if amount_min is not None and amount_max is not None and amount_min > amount_max:
        errors.append("金額の下限は上限以下にしてください。")
    receipt = text("receipt")
    if len(receipt) > 64:
        errors.append("レシート番号は64文字以内で入力してください。")
    kind = text("member")
    if kind not in MEMBER_KINDS:
        errors.append("会員区分の指定が正しくありません。")
    if errors:
        raise FilterInvalid(errors)
    return PurchaseConditions(
        card_number=card,
        receipt_number=receipt,
        amount_min=amount_min,
        amount_max=amount_max,
        member_kind=kind,
    )


def purchase_conditions_q(conditions: PurchaseConditions, *, prefix: str = "") -> Q:
    """The conditions as a Q on Purchase, or on a model reaching it through ``prefix``
    (``"purchase__"`` for items)."""

    def q(**lookups: Any) -> Q:
        return Q(**{f"{prefix}{name}": value for name, value in lookups.items()})

    result = Q()
    if conditions.card_number:
        result &= q(member__card_number=conditions.card_number)
    if conditions.receipt_number:
        # Receipt numbers are unique per store: naming every store lets the database use the
        # (store, receipt_number) index instead of reading every purchase.
        store_ids = list(Store.objects.values_list("id", flat=True))
        result &= q(receipt_number=conditions.receipt_number, store_id__in=store_ids)
    if conditions.amount_min is not None:
        result &= q(total__gte=conditions.amount_min)
    if conditions.amount_max is not None:
        result &= q(total__lte=conditions.amount_max)
    if conditions.member_kind == "linked":
        result &= q(member__line_friend__isnull=False)
    elif conditions.member_kind == "unlinked":
        result &= q(member__isnull=False, member__line_friend__isnull=True)
    elif conditions.member_kind == "guest":
        result &= q(member__isnull=True)
    return result


@dataclass(frozen=True)
class PurchaseFilter:
    """Dates are local calendar days, both ends included."""

    date_from: datetime.date | None
    date_to: datetime.date | None
    store_code: str = ""
    conditions: PurchaseConditions = field(default_factory=PurchaseConditions)

    def time_range(self) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        """[start, end) as aware datetimes in the current time zone."""
        return day_bounds(self.date_from, self.date_to)

    def query_string_items(self) -> list[tuple[str, str]]:
        """The filter as query parameters (for CSV links and paging)."""
        c = self.conditions
        items = [
            ("from", self.date_from.isoformat() if self.date_from else ""),
            ("to", self.date_to.isoformat() if self.date_to else ""),
            ("store", self.store_code),
            ("card", c.card_number),
            ("receipt", c.receipt_number),
            ("amount_min", "" if c.amount_min is None else str(c.amount_min)),
            ("amount_max", "" if c.amount_max is None else str(c.amount_max)),
            ("member", c.member_kind),
        ]
        return [(k, v) for k, v in items if v]


def purchase_filter_parse(query: Any, *, today: datetime.date | None = None) -> PurchaseFilter:
    """Read the purchase filter; raises ``FilterInvalid``.

    Without a card or receipt number the period defaults to the last
    ``PERIOD_DEFAULT_DAYS`` days and may not exceed ``PERIOD_MAX_DAYS``.
    """
    today = today or timezone.localdate()
    errors: list[str] = []

    date_from = date_to = None
    try:
        date_from, date_to = query_period(query)
    except PeriodInvalid as exc:
        errors.append(f"{exc}。")
    try:
        conditions = purchase_conditions_parse(query)
    except FilterInvalid as exc:
        errors.extend(exc.messages)
        conditions = PurchaseConditions()
    if errors:
        raise FilterInvalid(errors)
    if not conditions.narrows_to_member_or_receipt:
        if date_to is None:
            date_to = today if date_from is None else date_from + _span(PERIOD_DEFAULT_DAYS)
        if date_from is None:
            date_from = date_to - _span(PERIOD_DEFAULT_DAYS)
        if (date_to - date_from).days + 1 > PERIOD_MAX_DAYS:
            raise FilterInvalid(
                [
                    f"期間は{PERIOD_MAX_DAYS}日以内で指定してください"
                    "(会員番号かレシート番号を指定した場合は無制限です)。"
                ]
            )
    return PurchaseFilter(
        date_from=date_from,
        date_to=date_to,
        store_code=(query.get("store") or "").strip(),
        conditions=conditions,
    )


def _span(days: int) -> datetime.timedelta:
    return datetime.timedelta(days=days - 1)
