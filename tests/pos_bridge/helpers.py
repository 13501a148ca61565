"""Assertions shared by the POS API tests."""

from membership.models import CardCode, Member, PointEntry, PointLot
from pos_bridge.models import IdempotencyRecord, Purchase, PurchaseItem, Refund


def written() -> dict:
    """Everything a POS request can write, to prove a refused request wrote nothing."""
    return {
        "purchases": Purchase.objects.count(),
        "items": PurchaseItem.objects.count(),
        "refunds": Refund.objects.count(),
        "entries": PointEntry.objects.count(),
        "lots": PointLot.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
        "codes_used": CardCode.objects.filter(used_at__isnull=False).count(),
        "balances": list(Member.objects.order_by("pk").values_list("points_balance", flat=True)),
        "refunded": list(Purchase.objects.order_by("pk").values_list("refunded_amount", flat=True)),
    }


def assert_error(response, status: int, code: str) -> None:
    """The response is the API's error body with this status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert body["code"] == code
