"""POS bridge API schemas (public contract: keep names, extend with new optional fields).

Amounts are strict integers in yen: 1000.0, "1000" and true are refused, not coerced.
Unknown fields are refused too, so a misspelt ``points_to_reedem`` is an error instead of
a purchase that silently redeemed nothing.
"""

import datetime
from typing import Any

from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field, StrictInt

MAX_RECEIPT_TOTAL = 100_000_000  # ¥100M: anything above is a keying error, not a sale
MAX_ITEMS = 500
MAX_BATCH = 500
# Receipt numbers are printed and typed back at refunds: printable ASCII, no spaces.
RECEIPT_NUMBER_PATTERN = r"^[\x21-\x7e]+$"


class StrictSchema(BaseModel):
    """Request bodies: plain pydantic models. ``ninja.Schema`` adds a validator that reads
    attributes of ORM objects, which request JSON never is, and it cost a tenth of the
    purchase request's CPU on nested items (bench/bench_django.py profile)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PurchaseItemIn(StrictSchema):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=255)
    category: str = Field("", max_length=64)
    quantity: StrictInt = Field(ge=1, le=100_000)
    unit_price: StrictInt = Field(ge=0, le=MAX_RECEIPT_TOTAL)


class PurchaseIn(StrictSchema):
    receipt_number: str = Field(min_length=1, max_length=64, pattern=RECEIPT_NUMBER_PATTERN)
    occurred_at: datetime.datetime = Field(description="ISO 8601; without an offset: Asia/Tokyo")
    total: StrictInt = Field(ge=0, le=MAX_RECEIPT_TOTAL, description="yen, tax included")
    items: list[PurchaseItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    card: str | None = Field(
        None, min_length=1, max_length=64, description="card code (QR) or card number"
    )
    points_to_redeem: StrictInt = Field(0, ge=0, le=MAX_RECEIPT_TOTAL)


class PurchaseBatchItemIn(PurchaseIn):
    idempotency_key: str = Field(min_length=1, max_length=255)


class PurchaseBatchIn(StrictSchema):
    # Items are validated one by one so that a bad item fails alone (see the endpoint).
    purchases: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class PurchaseCreatedOut(Schema):
    purchase_id: int
    receipt_number: str
    points_earned: int
    points_redeemed: int
    points_balance: int | None
    tier: str | None


class RefundIn(StrictSchema):
    refund_receipt_number: str = Field(min_length=1, max_length=64, pattern=RECEIPT_NUMBER_PATTERN)
    amount: StrictInt = Field(ge=1, le=MAX_RECEIPT_TOTAL, description="yen, tax included")
    occurred_at: datetime.datetime


class RefundCreatedOut(Schema):
    refund_id: int
    purchase_id: int
    amount: int
    points_reversed: int
    points_restored: int
    points_unrecovered: int
    points_balance: int | None


class TerminalOut(Schema):
    terminal_id: int
    terminal_name: str
    store_code: str
    store_name: str
    store_active: bool


class CardResolveIn(StrictSchema):
    card: str = Field(min_length=1, max_length=64)


class CardResolveOut(Schema):
    card_number: str
    display_name: str
    tier: str | None
    points_balance: int
    can_redeem: bool
    identified_by: str


class PurchaseItemOut(Schema):
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: int


class RefundSummaryOut(Schema):
    refund_id: int
    refund_receipt_number: str
    amount: int
    occurred_at: datetime.datetime
    points_reversed: int
    points_restored: int
    points_unrecovered: int


class PurchaseOut(Schema):
    purchase_id: int
    store_code: str
    receipt_number: str
    occurred_at: datetime.datetime
    total: int
    card_number: str | None
    points_earned: int
    points_redeemed: int
    refunded_amount: int
    refundable_amount: int
    items: list[PurchaseItemOut]
    refunds: list[RefundSummaryOut]


class BatchResultOut(Schema):
    idempotency_key: str | None
    status: int
    body: dict


class PurchaseBatchOut(Schema):
    results: list[BatchResultOut]


class ErrorOut(Schema):
    code: str
    message: str
    extra: dict
