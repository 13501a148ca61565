"""Streaming CSV exports of purchases, items, the point ledger and members.

Rows come from ``values_list(...).iterator(chunk_size=2000)`` and are written a batch at a
time, so memory stays flat however many millions of rows there are. The file starts with a
UTF-8 BOM because Excel (Japanese Windows) otherwise reads it as Shift_JIS.
"""

import csv
import datetime
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from common.periods import PeriodInvalid, day_bounds, query_period
from hq.purchase_filters import (
    FilterInvalid,
    PurchaseConditions,
    purchase_conditions_parse,
    purchase_conditions_q,
)
from hq.roles import HqAccess
from membership.models import EntryKind, Gender, Member, MemberStatus, PointEntry
from pos_bridge.models import Purchase, PurchaseItem

CHUNK_SIZE = 2000
ROWS_PER_WRITE = 500
BOM = "\ufeff"
# Spreadsheet apps run a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFilterInvalid(ValueError):
    pass


@dataclass(frozen=True)
class ExportFilter:
    """Dates are local (Asia/Tokyo) calendar days, both ends included."""

    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    store_code: str = ""
    # The purchase page's other filters (card, receipt, amounts, member kind): purchases
    # and items only, so a CSV link from that page exports exactly the rows it totals.
    purchase: PurchaseConditions = field(default_factory=PurchaseConditions)

    @classmethod
    def from_query(cls, query: Any) -> "ExportFilter":
        """From ``?from=YYYY-MM-DD&to=YYYY-MM-DD&store=code`` and the purchase conditions
        (``card``, ``receipt``, ``amount_min``, ``amount_max``, ``member``); raises
        ExportFilterInvalid."""

        try:
            date_from, date_to = query_period(query)
        except PeriodInvalid as exc:
            raise ExportFilterInvalid(str(exc)) from exc
        try:
            purchase = purchase_conditions_parse(query)
        except FilterInvalid as exc:
            raise ExportFilterInvalid(str(exc)) from exc
        return cls(
            date_from=date_from,
            date_to=date_to,
            store_code=(query.get("store") or "").strip(),
            purchase=purchase,
        )

    def time_range(self) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        """[start, end) as aware datetimes in the current time zone."""
        return day_bounds(self.date_from, self.date_to)


def csv_safe(value: Any) -> Any:
    """Neutralise formula injection in text cells; numbers pass through (``-5`` stays)."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _local(moment: datetime.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def mask_name(name: str) -> str:
    """'山田 花子' → '山田 *': the family name alone, enough for analysis, not to identify."""
    parts = name.split()
    return f"{parts[0]} *" if parts else ""


def mask_phone(phone: str) -> str:
    """Every digit but the last two becomes '*': '090-1234-5678' → '***-****-**78'."""
    total = sum(ch.isdigit() for ch in phone)
    seen = 0
    masked = []
    for ch in phone:
        if ch.isdigit():
            seen += 1
            masked.append(ch if seen > total - 2 else "*")
        else:
            masked.append(ch)
    return "".join(masked)


def mask_email(email: str) -> str:
    """'hanako@example.com' → 'h***@example.com'."""
    local, at, domain = email.partition("@")
    if not at:
        return re.sub(r".", "*", email)
    return f"{local[:1]}***@{domain}"


# --- the exports ---------------------------------------------------------------


@dataclass(frozen=True)
class ExportKind:
    label: str
    header: Sequence[str]
    rows: Callable[[ExportFilter, HqAccess], Iterable[Sequence[Any]]]
    # Members and the ledger span all stores: HQ roles only.
    hq_only: bool


def _in_period(qs: QuerySet, flt: ExportFilter, *, field: str) -> QuerySet:
    """Rows whose ``field`` falls in the filter's local-date range (both ends included)."""
    start, end = flt.time_range()
    if start:
        qs = qs.filter(**{f"{field}__gte": start})
    if end:
        qs = qs.filter(**{f"{field}__lt": end})
    return qs


def _store_scope(flt: ExportFilter, access: HqAccess) -> str:
    """The store code to filter on: a store role always sees its own store only."""
    if access.store is not None:
        return access.store.code
    return flt.store_code


def _purchases(flt: ExportFilter, access: HqAccess) -> Iterator[Sequence[Any]]:
    qs: QuerySet[Purchase] = Purchase.objects.order_by("id")
    qs = _in_period(qs, flt, field="occurred_at")
    if store := _store_scope(flt, access):
        qs = qs.filter(store__code=store)
    qs = qs.filter(purchase_conditions_q(flt.purchase))
    for row in qs.values_list(
        "id", "store__code", "store__name", "receipt_number", "occurred_at", "total",
        "points_redeemed", "points_earned", "refunded_amount", "points_unrecovered",
        "member__card_number", "identified_by",
    ).iterator(chunk_size=CHUNK_SIZE):  # fmt: skip
        pid, code, name, receipt, at, *numbers, card, identified_by = row
        yield (pid, code, name, receipt, _local(at), *numbers, card or "", identified_by)


def _items(flt: ExportFilter, access: HqAccess) -> Iterator[Sequence[Any]]:
    qs: QuerySet[PurchaseItem] = PurchaseItem.objects.order_by("id")
    qs = _in_period(qs, flt, field="purchase__occurred_at")
    if store := _store_scope(flt, access):
        qs = qs.filter(purchase__store__code=store)
    qs = qs.filter(purchase_conditions_q(flt.purchase, prefix="purchase__"))
    for row in qs.values_list(
        "purchase_id", "purchase__store__code", "purchase__receipt_number",
        "purchase__occurred_at", "purchase__member__card_number",
        "sku", "name", "category", "quantity", "unit_price",
    ).iterator(chunk_size=CHUNK_SIZE):  # fmt: skip
        pid, code, receipt, at, card, sku, name, category, quantity, price = row
        yield (
            pid, code, receipt, _local(at), card or "",
            sku, name, category, quantity, price, quantity * price,
        )  # fmt: skip


def _ledger(flt: ExportFilter, access: HqAccess) -> Iterator[Sequence[Any]]:
    qs: QuerySet[PointEntry] = PointEntry.objects.order_by("id")
    qs = _in_period(qs, flt, field="occurred_at")
    kinds = dict(EntryKind.choices)
    for row in qs.values_list(
        "id", "member__card_number", "occurred_at", "kind", "delta", "balance_after",
        "reference", "reason", "actor",
    ).iterator(chunk_size=CHUNK_SIZE):  # fmt: skip
        eid, card, at, kind, delta, balance, reference, reason, actor = row
        yield (
            eid,
            card,
            _local(at),
            kinds.get(kind, kind),
            delta,
            balance,
            reference,
            reason,
            actor,
        )


def _members(flt: ExportFilter, access: HqAccess) -> Iterator[Sequence[Any]]:
    qs: QuerySet[Member] = Member.objects.order_by("id")
    if flt.date_from:
        qs = qs.filter(joined_on__gte=flt.date_from)
    if flt.date_to:
        qs = qs.filter(joined_on__lte=flt.date_to)
    genders = dict(Gender.choices)
    statuses = dict(MemberStatus.choices)
    masked = access.masks_personal_data
    for row in qs.values_list(
        "card_number", "name", "name_kana", "birth_date", "gender", "prefecture", "phone",
        "email", "joined_on", "status", "tier__name", "points_balance",
    ).iterator(chunk_size=CHUNK_SIZE):  # fmt: skip
        card, name, kana, birth, gender, pref, phone, email, joined, status, tier, balance = row
        if masked:
            name, kana = mask_name(name), mask_name(kana)
            phone, email = mask_phone(phone), mask_email(email)
            birth_cell = str(birth.year)
        else:
            birth_cell = birth.isoformat()
        yield (
            card, name, kana, birth_cell, genders.get(gender, gender), pref, phone, email,
            joined.isoformat(), statuses.get(status, status), tier or "", balance,
        )  # fmt: skip


EXPORTS: dict[str, ExportKind] = {
    "purchases": ExportKind(
        label="購入",
        header=[
            "購入ID", "店舗コード", "店舗名", "レシート番号", "購入日時", "合計(税込)",
            "利用ポイント", "付与ポイント", "返品額", "回収不能ポイント", "会員番号",
            "会員の確認方法",
        ],
        rows=_purchases,
        hq_only=False,
    ),
    "items": ExportKind(
        label="購入明細",
        header=[
            "購入ID", "店舗コード", "レシート番号", "購入日時", "会員番号", "SKU", "商品名",
            "カテゴリ", "数量", "単価(税込)", "金額(税込)",
        ],
        rows=_items,
        hq_only=False,
    ),
    "ledger": ExportKind(
        label="ポイント履歴",
        header=[
            "履歴ID", "会員番号", "発生日時", "種別", "増減", "残高", "原因", "理由", "実行者",
        ],
        rows=_ledger,
        hq_only=True,
    ),
    "members": ExportKind(
        label="会員",
        header=[
            "会員番号", "氏名", "氏名(カナ)", "生年月日", "性別", "都道府県", "電話番号",
            "メールアドレス", "入会日", "状態", "会員ランク", "ポイント残高",
        ],
        rows=_members,
        hq_only=True,
    ),
}  # fmt: skip


def export_csv_chunks(*, kind: str, flt: ExportFilter, access: HqAccess) -> Iterator[bytes]:
    """The CSV as UTF-8 byte chunks: BOM and header first, then ``ROWS_PER_WRITE`` rows each.

    Nothing runs until the first chunk is asked for; the caller checks permissions first.
    """
    spec = EXPORTS[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode("utf-8")

    buffer.write(BOM)
    writer.writerow(spec.header)
    yield flush()
    pending = 0
    for row in spec.rows(flt, access):
        writer.writerow([csv_safe(cell) for cell in row])
        pending += 1
        if pending >= ROWS_PER_WRITE:
            yield flush()
            pending = 0
    if pending:
        yield flush()
