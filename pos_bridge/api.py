"""POS bridge API, mounted at /api/pos/v1/. Thin: parse, call one service, shape the reply."""

import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Header, Router, Status
from ninja.security import HttpBearer
from pydantic import ValidationError as PydanticValidationError

from common.errors import ApplicationError
from config.errors import validation_error_body
from membership.services.card_codes import card_resolve
from pos_bridge.errors import PurchaseNotFound
from pos_bridge.models import Purchase, Terminal
from pos_bridge.schemas import (
    CardResolveIn,
    CardResolveOut,
    ErrorOut,
    PurchaseBatchIn,
    PurchaseBatchItemIn,
    PurchaseBatchOut,
    PurchaseCreatedOut,
    PurchaseIn,
    PurchaseOut,
    RefundCreatedOut,
    RefundIn,
    TerminalOut,
)
from pos_bridge.selectors import purchase_for_terminal
from pos_bridge.services.idempotency import StoredResponse, idempotent_call
from pos_bridge.services.purchases import ItemData, purchase_record, refund_record
from pos_bridge.services.stores import terminal_authenticate


class TerminalKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Terminal | None:
        return terminal_authenticate(token)


router = Router(auth=TerminalKeyAuth(), tags=["POS"])
ERRORS: dict[int, Any] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422)}
IdempotencyKey = Header(None, alias="Idempotency-Key", description="unique per request")


def _terminal(request: HttpRequest) -> Terminal:
    # Set by TerminalKeyAuth; django-ninja attaches it to the request dynamically.
    return request.auth  # type: ignore[attr-defined]


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if timezone.is_aware(value) else timezone.make_aware(value)


@router.get("/terminal", response={200: TerminalOut, **ERRORS})
def terminal_show(request: HttpRequest):
    """Which terminal and store this API key acts for: the check a POS installer runs after
    entering the key. Reads nothing beyond authentication."""
    terminal = _terminal(request)
    return {
        "terminal_id": terminal.pk,
        "terminal_name": terminal.name,
        "store_code": terminal.store.code,
        "store_name": terminal.store.name,
        "store_active": terminal.store.active,
    }


@router.post("/cards/resolve", response={200: CardResolveOut, **ERRORS})
def cards_resolve(request: HttpRequest, payload: CardResolveIn):
    resolved = card_resolve(card=payload.card)
    member = resolved.member
    return {
        "card_number": member.card_number,
        "display_name": member.display_name,
        "tier": member.tier.name if member.tier else None,
        "points_balance": member.points_balance,
        "can_redeem": resolved.card_code is not None and member.points_balance > 0,
        "identified_by": resolved.identified_by,
    }


def _purchase_submit(
    terminal: Terminal, key: str | None, payload: PurchaseIn, *, offline: bool
) -> StoredResponse:
    def run() -> StoredResponse:
        purchase = purchase_record(
            terminal=terminal,
            receipt_number=payload.receipt_number,
            occurred_at=_aware(payload.occurred_at),
            total=payload.total,
            items=[ItemData(**item.model_dump()) for item in payload.items],
            card=payload.card,
            points_to_redeem=payload.points_to_redeem,
            offline=offline,
            # Any error ends idempotent_call's transaction: no savepoint needed.
            savepoint=False,
        )
        member = purchase.member
        body = PurchaseCreatedOut(
            purchase_id=purchase.pk,
            receipt_number=purchase.receipt_number,
            points_earned=purchase.points_earned,
            points_redeemed=purchase.points_redeemed,
            points_balance=member.points_balance if member else None,
            tier=member.tier.name if member and member.tier else None,
        )
        return StoredResponse(status=201, body=body.model_dump(mode="json"))

    data = payload.model_dump(mode="json", exclude={"idempotency_key"})
    return idempotent_call(terminal=terminal, key=key, operation="purchase", payload=data, run=run)


@router.post("/purchases", response={201: PurchaseCreatedOut, **ERRORS})
def purchases_create(
    request: HttpRequest, payload: PurchaseIn, idempotency_key: str | None = IdempotencyKey
):
    stored = _purchase_submit(_terminal(request), idempotency_key, payload, offline=False)
    return Status(stored.status, stored.body)


@router.post("/purchases/batch", response={200: PurchaseBatchOut, **ERRORS})
def purchases_batch(request: HttpRequest, payload: PurchaseBatchIn):
    """Resync purchases made offline. Each item has its own idempotency_key and succeeds or
    fails on its own; results come back in order. Resending the whole batch is safe."""
    results = []
    for raw in payload.purchases:
        key = raw.get("idempotency_key") if isinstance(raw, dict) else None
        if not isinstance(key, str):
            key = None  # echoed back only when it is a usable key; validation reports it
        try:
            item = PurchaseBatchItemIn.model_validate(raw)
            stored = _purchase_submit(_terminal(request), item.idempotency_key, item, offline=True)
            results.append({"idempotency_key": key, "status": stored.status, "body": stored.body})
        except PydanticValidationError as exc:
            results.append(
                {"idempotency_key": key, "status": 422, "body": validation_error_body(exc.errors())}
            )
        except ApplicationError as exc:
            results.append({"idempotency_key": key, "status": exc.status, "body": exc.body()})
    return Status(200, {"results": results})


@router.get("/purchases/{purchase_id}", response={200: PurchaseOut, **ERRORS})
def purchases_get(request: HttpRequest, purchase_id: int):
    purchase = purchase_for_terminal(terminal=_terminal(request), purchase_id=purchase_id)
    if purchase is None:
        raise PurchaseNotFound(purchase_id=purchase_id)
    return _purchase_out(purchase)


@router.post("/purchases/{purchase_id}/refunds", response={201: RefundCreatedOut, **ERRORS})
def refunds_create(
    request: HttpRequest,
    purchase_id: int,
    payload: RefundIn,
    idempotency_key: str | None = IdempotencyKey,
):
    terminal: Terminal = _terminal(request)

    def run() -> StoredResponse:
        refund = refund_record(
            terminal=terminal,
            purchase_id=purchase_id,
            refund_receipt_number=payload.refund_receipt_number,
            amount=payload.amount,
            occurred_at=_aware(payload.occurred_at),
        )
        member = refund.purchase.member
        body = RefundCreatedOut(
            refund_id=refund.pk,
            purchase_id=purchase_id,
            amount=refund.amount,
            points_reversed=refund.points_reversed,
            points_restored=refund.points_restored,
            points_unrecovered=refund.points_unrecovered,
            points_balance=member.points_balance if member else None,
        )
        return StoredResponse(status=201, body=body.model_dump(mode="json"))

    data = {"purchase_id": purchase_id, **payload.model_dump(mode="json")}
    stored = idempotent_call(
        terminal=terminal, key=idempotency_key, operation="refund", payload=data, run=run
    )
    return Status(stored.status, stored.body)


def _purchase_out(purchase: Purchase) -> dict[str, Any]:
    return {
        "purchase_id": purchase.pk,
        "store_code": purchase.store.code,
        "receipt_number": purchase.receipt_number,
        "occurred_at": purchase.occurred_at,
        "total": purchase.total,
        "card_number": purchase.member.card_number if purchase.member else None,
        "points_earned": purchase.points_earned,
        "points_redeemed": purchase.points_redeemed,
        "refunded_amount": purchase.refunded_amount,
        "refundable_amount": purchase.refundable_amount,
        "items": list(purchase.items.all()),
        "refunds": [
            {
                "refund_id": r.pk,
                "refund_receipt_number": r.refund_receipt_number,
                "amount": r.amount,
                "occurred_at": r.occurred_at,
                "points_reversed": r.points_reversed,
                "points_restored": r.points_restored,
                "points_unrecovered": r.points_unrecovered,
            }
            for r in purchase.refunds.all()
        ],
    }
