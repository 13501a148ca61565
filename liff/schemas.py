"""LIFF card API schemas (public contract: keep the names, add only optional fields)."""

import datetime
import math
from typing import Annotated, Literal

from django.utils import timezone
from ninja import Schema
from pydantic import ConfigDict, Field, model_validator

from liff.qr import card_code_qr_svg
from liff.selectors import Page
from liff.services.cards import MemberCard
from membership.models import PointEntry
from membership.services.card_codes import IssuedCardCode
from pos_bridge.models import Purchase


class StrictSchema(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- in ------------------------------------------------------------------------------------


class RegistrationIn(StrictSchema):
    name: str = Field(min_length=1, max_length=128)
    name_kana: str = Field("", max_length=128)
    birth_date: datetime.date
    gender: Literal["", "female", "male", "other"] = ""
    prefecture: str = Field("", max_length=8, description="都道府県名 (例: 東京都) or empty")
    agree: Literal[True] = Field(description="会員規約と個人情報の取り扱いへの同意")


class LinkIn(StrictSchema):
    """Either ``card_number`` + ``birth_date`` (existing member) or ``register`` (new)."""

    card_number: str | None = Field(None, min_length=1, max_length=32)
    birth_date: datetime.date | None = None
    # ``register`` in JSON; renamed here because pydantic models have a ``register`` attribute.
    registration: RegistrationIn | None = Field(None, alias="register")
    store: str = Field(
        "", max_length=32, description="the store code of the in-store poster the user came from"
    )

    @model_validator(mode="after")
    def one_path(self) -> "LinkIn":
        existing = self.card_number is not None or self.birth_date is not None
        if self.registration is not None and existing:
            raise ValueError("send either card_number + birth_date or register, not both")
        if self.registration is None and (self.card_number is None or self.birth_date is None):
            raise ValueError("card_number and birth_date are both required")
        return self


class MarketingIn(StrictSchema):
    opt_in: bool = Field(description="false: no campaign messages (receipts still come)")


# --- out -----------------------------------------------------------------------------------


class CardCodeOut(Schema):
    code: str = Field(description="what the QR encodes; single use, short-lived")
    code_expires_at: datetime.datetime
    code_expires_in: int = Field(description="seconds of validity left when issued")
    qr_svg: str = Field(description="SVG image of the QR code of `code`")
    points_balance: int


class ExpiringPointsOut(Schema):
    points: int
    expires_on: datetime.date


class RefundOut(Schema):
    amount: int
    occurred_at: datetime.datetime
    points_reversed: int
    points_restored: int


class PurchaseOut(Schema):
    id: int
    occurred_at: datetime.datetime
    store_name: str
    receipt_number: str
    total: int
    points_earned: int
    points_redeemed: int
    refunded_amount: int
    refunds: list[RefundOut]


class PointEntryOut(Schema):
    id: int
    occurred_at: datetime.datetime
    kind: str
    kind_label: str
    delta: int
    balance_after: int
    expires_on: datetime.date | None = Field(None, description="for points earned: their expiry")


class HistoryOut(Schema):
    purchases: list[PurchaseOut] | None = None
    purchases_next: int | None = Field(None, description="?kind=purchases&before=<this>")
    points: list[PointEntryOut] | None = None
    points_next: int | None = Field(None, description="?kind=points&before=<this>")


class UnlinkedCardOut(Schema):
    linked: Literal[False] = False


class LinkedCardOut(CardCodeOut):
    linked: Literal[True] = True
    card_number: str
    display_name: str
    tier: str | None
    points_balance: int
    expiring_points: list[ExpiringPointsOut]
    history: HistoryOut
    marketing_opt_in: bool = Field(True, description="whether campaign messages are wanted")


CardOut = Annotated[LinkedCardOut | UnlinkedCardOut, Field(discriminator="linked")]


class LinkedOut(LinkedCardOut):
    bonus_awarded: int


class MarketingOut(Schema):
    marketing_opt_in: bool


class UnlinkOut(Schema):
    linked: Literal[False] = False
    unlinked: bool = Field(description="false when there was no link to remove")


class ErrorOut(Schema):
    code: str
    message: str
    extra: dict


# --- shaping -------------------------------------------------------------------------------


def card_code_out(code: IssuedCardCode, *, points_balance: int) -> dict:
    remaining = (code.expires_at - timezone.now()).total_seconds()
    return {
        "points_balance": points_balance,
        "code": code.code,
        "code_expires_at": code.expires_at,
        "code_expires_in": max(0, math.floor(remaining)),
        "qr_svg": card_code_qr_svg(code.code),
    }


def purchase_out(purchase: Purchase) -> dict:
    return {
        "id": purchase.pk,
        "occurred_at": purchase.occurred_at,
        "store_name": purchase.store.name,
        "receipt_number": purchase.receipt_number,
        "total": purchase.total,
        "points_earned": purchase.points_earned,
        "points_redeemed": purchase.points_redeemed,
        "refunded_amount": purchase.refunded_amount,
        "refunds": [
            {
                "amount": r.amount,
                "occurred_at": r.occurred_at,
                "points_reversed": r.points_reversed,
                "points_restored": r.points_restored,
            }
            for r in purchase.refunds.all()
        ],
    }


def point_entry_out(entry: PointEntry) -> dict:
    lot = getattr(entry, "lot", None) if entry.delta > 0 else None
    return {
        "id": entry.pk,
        "occurred_at": entry.occurred_at,
        "kind": entry.kind,
        "kind_label": entry.get_kind_display(),
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "expires_on": lot.expires_on if lot is not None else None,
    }


def history_out(
    *, purchases: Page[Purchase] | None = None, points: Page[PointEntry] | None = None
) -> dict:
    body: dict = {}
    if purchases is not None:
        body["purchases"] = [purchase_out(p) for p in purchases.items]
        body["purchases_next"] = purchases.next_before
    if points is not None:
        body["points"] = [point_entry_out(e) for e in points.items]
        body["points_next"] = points.next_before
    return body


def card_out(card: MemberCard) -> dict:
    member = card.member
    return {
        "linked": True,
        "card_number": member.card_number,
        "display_name": member.display_name,
        "tier": member.tier.name if member.tier else None,
        "expiring_points": [
            {"points": e.points, "expires_on": e.expires_on} for e in card.expiring_points
        ],
        **card_code_out(card.code, points_balance=member.points_balance),
        "history": history_out(purchases=card.purchases, points=card.point_entries),
        "marketing_opt_in": card.marketing_opt_in,
    }
