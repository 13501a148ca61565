"""``POST /api/pos/v1/purchases/batch``: offline resync, each item on its own, safe to resend."""

import datetime
import uuid

import pytest
import time_machine
from django.utils import timezone

from membership.models import CardCode, Member
from pos_bridge.models import IdempotencyRecord, Purchase
from tests.pos_bridge.helpers import assert_error, written


def _item(**fields) -> dict:
    fields.setdefault("idempotency_key", str(uuid.uuid4()))
    fields.setdefault("receipt_number", f"R-{uuid.uuid4().hex[:10]}")
    fields.setdefault("occurred_at", (timezone.now() - datetime.timedelta(hours=1)).isoformat())
    fields.setdefault("total", 1_000)
    return fields


def _now() -> str:
    return timezone.now().isoformat()


def _batch(pos, items: list):
    return pos.post("/purchases/batch", {"purchases": items})


def test_batch_records_each_purchase_and_returns_results_in_order(pos, make_member):
    member = make_member()
    items = [_item(total=100 * (i + 1), card=member.card_number) for i in range(5)]

    response = _batch(pos, items)

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["idempotency_key"] for r in results] == [i["idempotency_key"] for i in items]
    assert [r["status"] for r in results] == [201] * 5
    assert [r["body"]["points_earned"] for r in results] == [1, 2, 3, 4, 5]
    assert [r["body"]["receipt_number"] for r in results] == [i["receipt_number"] for i in items]
    assert Member.objects.get(pk=member.pk).points_balance == 15


def test_batch_of_500_purchases_is_accepted(pos):
    items = [_item(total=100) for _ in range(500)]

    response = _batch(pos, items)

    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 500
    assert Purchase.objects.count() == 500


def test_batch_of_501_purchases_is_refused_whole(pos):
    before = written()

    response = _batch(pos, [_item(total=100) for _ in range(501)])

    assert_error(response, 422, "validation_error")
    assert written() == before


@pytest.mark.parametrize(
    "body",
    [{"purchases": []}, {}, {"purchases": {}}, {"purchases": [], "extra": 1}, []],
    ids=["empty", "missing", "object", "unknown_field", "array"],
)
def test_batch_with_bad_envelope_is_a_validation_error(pos, body):
    before = written()

    assert_error(pos.post("/purchases/batch", body), 422, "validation_error")
    assert written() == before


def test_batch_items_succeed_or_fail_on_their_own(pos, make_member):
    member = make_member(points=100)
    first = _item(receipt_number="R-1", card=member.card_number)
    items: list = [
        first,
        _item(total=-5),
        _item(card="00000000"),
        _item(card=member.card_number, points_to_redeem=10),
        _item(receipt_number="R-1"),
        {"receipt_number": "R-9", "total": 100},
        _item(total=300, card=member.card_number),
        _item(idempotency_key="has space"),
        "not an object",
    ]

    response = _batch(pos, items)

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 404, 403, 409, 422, 201, 400, 422]
    assert [r["body"].get("code") for r in results[1:6]] == [
        "validation_error",
        "card_not_found",
        "card_code_required",
        "duplicate_receipt",
        "validation_error",
    ]
    assert results[7]["body"]["code"] == "idempotency_key_invalid"
    assert results[8]["body"]["code"] == "validation_error"
    for failed in (results[i] for i in (1, 2, 3, 4, 5, 7, 8)):
        assert set(failed["body"]) == {"code", "message", "extra"}
    assert [r["idempotency_key"] for r in results[:5]] == [i["idempotency_key"] for i in items[:5]]
    assert results[5]["idempotency_key"] is None
    assert Purchase.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 2
    assert Member.objects.get(pk=member.pk).points_balance == 100 + 10 + 3


def test_resending_the_whole_batch_creates_nothing_and_returns_identical_results(
    pos, make_member, card_code
):
    member = make_member(points=500)
    items = [
        _item(receipt_number="R-1", card=member.card_number),
        _item(total=-1),
        _item(card=card_code(member), points_to_redeem=200, occurred_at=_now()),
        _item(receipt_number="R-1"),
        _item(card="00000000"),
    ]
    first = _batch(pos, items)
    after_first = written()

    second = _batch(pos, items)

    assert second.status_code == 200
    assert second.json() == first.json()
    assert written() == after_first
    assert [r["status"] for r in first.json()["results"]] == [201, 422, 201, 409, 404]


def test_same_key_twice_in_one_batch_records_once(pos):
    item = _item()

    results = _batch(pos, [item, item]).json()["results"]

    assert [r["status"] for r in results] == [201, 201]
    assert results[0]["body"] == results[1]["body"]
    assert Purchase.objects.count() == 1


def test_batch_replays_a_purchase_first_sent_to_the_single_endpoint(pos):
    item = _item()
    single = {k: v for k, v in item.items() if k != "idempotency_key"}
    online = pos.post("/purchases", single, key=item["idempotency_key"])
    assert online.status_code == 201

    results = _batch(pos, [item]).json()["results"]

    assert results[0]["status"] == 201
    assert results[0]["body"] == online.json()
    assert Purchase.objects.count() == 1


def test_batch_checks_card_code_at_occurred_at_so_an_offline_sale_keeps_its_code(
    pos, make_member, card_code
):
    member = make_member(points=500)
    sold_at = timezone.now()
    code = card_code(member)

    with time_machine.travel(sold_at + datetime.timedelta(minutes=30)):
        before = written()
        online = pos.purchase(
            total=1_000, card=code, points_to_redeem=100, occurred_at=sold_at.isoformat()
        )
        assert_error(online, 409, "card_code_expired")
        assert written() == before

        results = _batch(
            pos,
            [_item(card=code, points_to_redeem=100, occurred_at=sold_at.isoformat())],
        ).json()["results"]

    assert results[0]["status"] == 201, results
    assert results[0]["body"]["points_redeemed"] == 100
    assert CardCode.objects.get(member=member).used_at is not None
    assert Member.objects.get(pk=member.pk).points_balance == 500 - 100 + 9


def test_batch_refuses_a_card_code_for_a_sale_before_the_code_existed(pos, make_member, card_code):
    member = make_member(points=500)
    code = card_code(member)
    before = written()
    earlier = timezone.now() - datetime.timedelta(minutes=10)

    results = _batch(pos, [_item(card=code, occurred_at=earlier.isoformat())]).json()["results"]

    assert results[0]["status"] == 409
    assert results[0]["body"]["code"] == "card_code_expired"
    assert written() == before


def test_batch_refuses_a_card_code_for_a_sale_after_it_expired(pos, make_member, card_code):
    member = make_member(points=500)
    issued_at = timezone.now()
    code = card_code(member)

    with time_machine.travel(issued_at + datetime.timedelta(minutes=30)):
        late = issued_at + datetime.timedelta(minutes=5)
        results = _batch(pos, [_item(card=code, occurred_at=late.isoformat())]).json()["results"]

    assert results[0]["body"]["code"] == "card_code_expired"
    assert Purchase.objects.count() == 0


def test_batch_item_with_a_used_card_code_fails_alone(pos, make_member, card_code):
    member = make_member(points=500)
    code = card_code(member)

    items = [_item(card=code, occurred_at=_now()), _item(card=code, occurred_at=_now()), _item()]

    results = _batch(pos, items).json()["results"]

    assert [r["status"] for r in results] == [201, 409, 201]
    assert results[1]["body"]["code"] == "card_code_used"


@pytest.mark.parametrize("key", [123, ["a"]], ids=["int", "list"])
def test_batch_item_with_a_non_string_key_fails_alone_instead_of_crashing(pos, key):
    pos.client.raise_request_exception = False
    good = _item()

    response = _batch(pos, [good, _item(idempotency_key=key)])

    assert response.status_code == 200, response.content[:200]
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422]
    assert results[1]["body"]["code"] == "validation_error"


def test_batch_needs_terminal_auth(client, db):
    before = written()

    response = client.post(
        "/api/pos/v1/purchases/batch", {"purchases": [_item()]}, content_type="application/json"
    )

    assert_error(response, 401, "unauthorized")
    assert written() == before
