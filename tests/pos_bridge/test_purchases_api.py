"""``POST /api/pos/v1/purchases`` and ``GET /api/pos/v1/purchases/{id}``: earning, redeeming,
and every refusal, each of which must leave the database untouched."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from membership.models import (
    Campaign,
    CardCode,
    EntryKind,
    Member,
    MemberStatus,
    PointEntry,
)
from pos_bridge.models import Purchase, Store
from tests.conftest import PosClient
from tests.pos_bridge.helpers import assert_error, written

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def _balance(member: Member) -> int:
    return Member.objects.get(pk=member.pk).points_balance


def _today() -> datetime.date:
    return timezone.localdate()


# --- earning ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "earned"), [(0, 0), (99, 0), (100, 1), (199, 1), (1_999, 19), (100_000, 1_000)]
)
def test_purchase_earns_one_point_per_100_yen_rounded_down(pos, make_member, total, earned):
    member = make_member()

    response = pos.purchase(total=total, card=member.card_number)

    assert response.status_code == 201, response.content
    assert response.json()["points_earned"] == earned
    assert response.json()["points_balance"] == earned
    assert _balance(member) == earned


def test_points_used_at_checkout_do_not_earn_points(pos, make_member, card_code):
    member = make_member(points=1_000)

    response = pos.purchase(total=1_999, card=card_code(member), points_to_redeem=500)

    assert response.status_code == 201, response.content
    body = response.json()
    # Paid in money: 1,999 - 500 = 1,499 → 14 points.
    assert body["points_redeemed"] == 500
    assert body["points_earned"] == 14
    assert body["points_balance"] == 1_000 - 500 + 14
    assert _balance(member) == 514


def test_purchase_paid_entirely_with_points_earns_nothing(pos, make_member, card_code):
    member = make_member(points=1_000)

    response = pos.purchase(total=800, card=card_code(member), points_to_redeem=800)

    assert response.status_code == 201, response.content
    assert response.json()["points_earned"] == 0
    assert _balance(member) == 200
    assert not PointEntry.objects.filter(member=member, kind=EntryKind.EARN).exists()


def test_purchase_without_card_is_recorded_for_a_non_member(pos):
    response = pos.purchase(
        total=1_500, items=[{"sku": "A-1", "name": "石鹸", "quantity": 3, "unit_price": 500}]
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["points_earned"] == 0
    assert body["points_balance"] is None
    assert body["tier"] is None
    purchase = Purchase.objects.get(pk=body["purchase_id"])
    assert purchase.member is None
    assert purchase.total == 1_500
    assert purchase.items.get().amount == 1_500
    assert PointEntry.objects.count() == 0


def test_purchase_response_has_the_contract_fields(pos, make_member):
    member = make_member()

    body = pos.purchase(total=1_000, card=member.card_number).json()

    assert {"purchase_id", "points_earned", "points_redeemed", "points_balance", "tier"} <= set(
        body
    )


def test_tier_multiplier_applies_to_base_points(pos, make_member, tiers):
    member = make_member(tier=tiers["gold"])

    response = pos.purchase(total=1_999, card=member.card_number)

    # Base 19 at 200% → 38.
    assert response.json()["points_earned"] == 38


def test_silver_tier_earns_one_and_a_half_times_rounded_down(pos, make_member, tiers):
    member = make_member(tier=tiers["silver"])

    response = pos.purchase(total=1_100, card=member.card_number)

    # Base 11 at 150% = 16.5 → 16.
    assert response.json()["points_earned"] == 16


def _campaign(**fields) -> Campaign:
    fields.setdefault("name", "キャンペーン")
    fields.setdefault("starts_on", _today() - datetime.timedelta(days=1))
    fields.setdefault("ends_on", _today() + datetime.timedelta(days=1))
    return Campaign.objects.create(**fields)


def test_campaign_multiplier_doubles_points_during_its_dates(pos, make_member):
    _campaign(multiplier_percent=200)
    member = make_member()

    assert pos.purchase(total=1_000, card=member.card_number).json()["points_earned"] == 20


def test_campaign_fixed_bonus_is_added_once_per_purchase(pos, make_member):
    _campaign(bonus_points=50)
    member = make_member()

    assert pos.purchase(total=1_000, card=member.card_number).json()["points_earned"] == 60


@pytest.mark.parametrize(
    ("starts_in", "ends_in"), [(1, 10), (-10, -2)], ids=["not_started", "already_ended"]
)
def test_campaign_outside_its_dates_is_ignored(pos, make_member, starts_in, ends_in):
    _campaign(
        multiplier_percent=300,
        bonus_points=100,
        starts_on=_today() + datetime.timedelta(days=starts_in),
        ends_on=_today() + datetime.timedelta(days=ends_in),
    )
    member = make_member()

    assert pos.purchase(total=1_000, card=member.card_number).json()["points_earned"] == 10


def test_campaign_dates_are_checked_against_occurred_at_not_now(pos, make_member):
    last_week = _today() - datetime.timedelta(days=7)
    _campaign(bonus_points=100, starts_on=last_week, ends_on=last_week)
    member = make_member()
    occurred_at = datetime.datetime.combine(last_week, datetime.time(12, 0), tzinfo=TOKYO)

    response = pos.purchase(
        total=1_000, card=member.card_number, occurred_at=occurred_at.isoformat()
    )

    assert response.json()["points_earned"] == 110


def test_inactive_campaign_is_ignored(pos, make_member):
    _campaign(multiplier_percent=300, bonus_points=100, active=False)
    member = make_member()

    assert pos.purchase(total=1_000, card=member.card_number).json()["points_earned"] == 10


def test_store_limited_campaign_applies_only_in_its_stores(
    pos, other_pos, store, other_store, make_member
):
    campaign = _campaign(bonus_points=100)
    campaign.stores.set([other_store])
    member = make_member()

    assert pos.purchase(total=1_000, card=member.card_number).json()["points_earned"] == 10
    assert other_pos.purchase(total=1_000, card=member.card_number).json()["points_earned"] == 110


def test_category_campaign_multiplies_only_the_matching_items(pos, make_member):
    _campaign(categories=["cosmetics"], multiplier_percent=300)
    member = make_member()
    items = [
        {"sku": "C-1", "category": "cosmetics", "quantity": 2, "unit_price": 300},
        {"sku": "F-1", "category": "food", "quantity": 1, "unit_price": 400},
    ]

    response = pos.purchase(total=1_000, card=member.card_number, items=items)

    # Base 10, plus (600 // 100) * (300% - 100%) = 12 on the cosmetics.
    assert response.json()["points_earned"] == 22


def test_sku_campaign_bonus_needs_a_matching_item(pos, make_member):
    _campaign(skus=["F-1"], bonus_points=30)
    member = make_member()
    matching = [{"sku": "F-1", "category": "food", "quantity": 1, "unit_price": 1_000}]
    other = [{"sku": "F-2", "category": "food", "quantity": 1, "unit_price": 1_000}]

    assert (
        pos.purchase(total=1_000, card=member.card_number, items=matching).json()["points_earned"]
        == 40
    )
    assert (
        pos.purchase(total=1_000, card=member.card_number, items=other).json()["points_earned"]
        == 10
    )
    assert pos.purchase(total=1_000, card=member.card_number).json()["points_earned"] == 10


def test_item_campaign_earns_only_on_the_money_share_of_the_items(pos, make_member, card_code):
    _campaign(categories=["cosmetics"], multiplier_percent=200)
    member = make_member(points=500)
    items = [{"sku": "C-1", "category": "cosmetics", "quantity": 1, "unit_price": 1_000}]

    response = pos.purchase(total=1_000, card=card_code(member), items=items, points_to_redeem=500)

    # 500 yen paid in money: base 5, campaign +5 on the paid half of the item.
    assert response.json()["points_earned"] == 10


# --- redeeming ---------------------------------------------------------------------------


def test_redeem_with_card_code_spends_points_and_consumes_the_code(pos, make_member, card_code):
    member = make_member(points=1_000)
    code = card_code(member)

    response = pos.purchase(total=1_000, card=code, points_to_redeem=300)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["points_redeemed"] == 300
    assert body["points_earned"] == 7
    assert body["points_balance"] == 707
    purchase = Purchase.objects.get(pk=body["purchase_id"])
    assert purchase.identified_by == "card_code"
    used = CardCode.objects.get(member=member)
    assert used.used_at is not None
    assert used.used_for == f"purchase:{purchase.pk}"


def test_card_code_cannot_be_used_for_a_second_purchase(pos, make_member, card_code):
    member = make_member(points=1_000)
    code = card_code(member)
    assert pos.purchase(total=1_000, card=code, points_to_redeem=100).status_code == 201
    before = written()

    response = pos.purchase(total=1_000, card=code, points_to_redeem=100)

    assert_error(response, 409, "card_code_used")
    assert written() == before


def test_card_code_is_consumed_even_without_redeeming(pos, make_member, card_code):
    member = make_member()
    code = card_code(member)

    assert pos.purchase(total=1_000, card=code).status_code == 201
    assert_error(pos.purchase(total=1_000, card=code), 409, "card_code_used")


def test_redeem_with_card_number_requires_a_card_code(pos, make_member):
    member = make_member(points=1_000)
    before = written()

    response = pos.purchase(total=1_000, card=member.card_number, points_to_redeem=100)

    assert_error(response, 403, "card_code_required")
    assert written() == before


def test_redeem_without_any_card_requires_a_card_code(pos, make_member):
    make_member(points=1_000)
    before = written()

    response = pos.purchase(total=1_000, points_to_redeem=100)

    assert_error(response, 403, "card_code_required")
    assert written() == before


def test_redeem_more_than_balance_is_refused_and_code_stays_usable(pos, make_member, card_code):
    member = make_member(points=100)
    code = card_code(member)
    before = written()

    response = pos.purchase(total=1_000, card=code, points_to_redeem=101)

    assert_error(response, 409, "points_insufficient")
    assert written() == before
    assert CardCode.objects.get(member=member).used_at is None
    assert pos.purchase(total=1_000, card=code, points_to_redeem=100).status_code == 201


def test_redeem_more_than_total_is_refused(pos, make_member, card_code):
    member = make_member(points=5_000)
    code = card_code(member)
    before = written()

    response = pos.purchase(total=1_000, card=code, points_to_redeem=1_001)

    assert_error(response, 422, "points_exceed_total")
    assert written() == before


def test_expired_card_code_is_refused(pos, make_member, card_code):
    member = make_member(points=1_000)
    code = card_code(member)
    before = written()

    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=61)):
        response = pos.purchase(total=1_000, card=code, points_to_redeem=100)

    assert_error(response, 409, "card_code_expired")
    assert written() == before


@pytest.mark.parametrize("card", ["99999999", "MC" + "A" * 26, "not-a-card", "MCXYZ"])
def test_unknown_card_is_refused(pos, make_member, card):
    make_member(points=100)
    before = written()

    response = pos.purchase(total=1_000, card=card)

    assert_error(response, 404, "card_not_found")
    assert written() == before


def test_withdrawn_member_cannot_buy_with_their_card(pos, make_member):
    member = make_member(points=100, status=MemberStatus.WITHDRAWN)
    before = written()

    response = pos.purchase(total=1_000, card=member.card_number)

    assert_error(response, 409, "member_inactive")
    assert written() == before


def test_card_code_of_a_member_who_withdrew_after_issue_is_refused(pos, make_member, card_code):
    member = make_member(points=100)
    code = card_code(member)
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.WITHDRAWN)
    before = written()

    response = pos.purchase(total=1_000, card=code, points_to_redeem=50)

    assert_error(response, 409, "member_inactive")
    assert written() == before


# --- time and store ----------------------------------------------------------------------


def test_occurred_at_far_in_the_future_is_refused(pos, make_member):
    member = make_member()
    before = written()
    tomorrow = timezone.now() + datetime.timedelta(days=1)

    response = pos.purchase(total=1_000, card=member.card_number, occurred_at=tomorrow.isoformat())

    assert_error(response, 422, "occurred_at_in_future")
    assert written() == before


def test_occurred_at_a_few_minutes_ahead_is_tolerated_as_clock_drift(pos, make_member):
    member = make_member()
    soon = timezone.now() + datetime.timedelta(minutes=3)

    response = pos.purchase(total=1_000, card=member.card_number, occurred_at=soon.isoformat())

    assert response.status_code == 201, response.content


def test_naive_occurred_at_is_interpreted_in_tokyo_time(pos):
    day = timezone.localdate() - datetime.timedelta(days=10)

    response = pos.purchase(total=1_000, occurred_at=f"{day.isoformat()}T10:00:00")

    assert response.status_code == 201, response.content
    purchase = Purchase.objects.get(pk=response.json()["purchase_id"])
    expected_utc = datetime.datetime.combine(day, datetime.time(1, 0), tzinfo=datetime.UTC)
    assert purchase.occurred_at == expected_utc


def test_occurred_at_older_than_the_resync_window_is_refused(pos):
    long_ago = timezone.now() - datetime.timedelta(days=91)
    before = Purchase.objects.count()

    response = pos.purchase(total=1_000, occurred_at=long_ago.isoformat())

    assert response.status_code == 422
    assert response.json()["code"] == "occurred_at_too_old"
    assert Purchase.objects.count() == before


def test_naive_tokyo_wall_clock_time_of_now_is_not_taken_for_the_future(pos):
    tokyo_now = timezone.now().astimezone(TOKYO).replace(tzinfo=None, microsecond=0)

    # Read as UTC this would be 9 hours ahead and refused.
    response = pos.purchase(total=1_000, occurred_at=tokyo_now.isoformat())

    assert response.status_code == 201, response.content


def test_purchase_at_an_inactive_store_is_refused(pos, store, make_member):
    member = make_member()
    Store.objects.filter(pk=store.pk).update(active=False)
    before = written()

    response = pos.purchase(total=1_000, card=member.card_number)

    assert_error(response, 403, "store_inactive")
    assert written() == before


# --- receipts ----------------------------------------------------------------------------


def test_same_receipt_number_under_a_new_key_is_a_duplicate(pos, make_member):
    member = make_member()
    assert (
        pos.purchase(receipt_number="R-1", total=1_000, card=member.card_number).status_code == 201
    )
    before = written()

    response = pos.purchase(receipt_number="R-1", total=1_000, card=member.card_number)

    assert_error(response, 409, "duplicate_receipt")
    assert written() == before


def test_same_receipt_number_in_another_store_is_a_different_sale(pos, other_pos, make_member):
    member = make_member()

    first = pos.purchase(receipt_number="R-1", total=1_000, card=member.card_number)
    second = other_pos.purchase(receipt_number="R-1", total=1_000, card=member.card_number)

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert Purchase.objects.filter(receipt_number="R-1").count() == 2
    assert _balance(member) == 20


# --- GET /purchases/{id} -----------------------------------------------------------------


def test_get_purchase_shows_items_and_refunds(pos, make_member):
    member = make_member()
    items = [
        {"sku": "A-1", "name": "石鹸", "category": "bath", "quantity": 2, "unit_price": 300},
        {"sku": "B-2", "name": "タオル", "category": "", "quantity": 1, "unit_price": 400},
    ]
    purchase_id = pos.purchase(
        receipt_number="R-77", total=1_000, card=member.card_number, items=items
    ).json()["purchase_id"]
    refund = pos.refund(purchase_id, refund_receipt_number="RR-1", amount=400).json()

    response = pos.get(f"/purchases/{purchase_id}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["purchase_id"] == purchase_id
    assert body["store_code"] == "shibuya"
    assert body["receipt_number"] == "R-77"
    assert body["total"] == 1_000
    assert body["card_number"] == member.card_number
    assert body["points_earned"] == 10
    assert body["refunded_amount"] == 400
    assert body["refundable_amount"] == 600
    assert sorted((i["sku"], i["name"], i["quantity"], i["unit_price"]) for i in body["items"]) == [
        ("A-1", "石鹸", 2, 300),
        ("B-2", "タオル", 1, 400),
    ]
    assert [(r["refund_id"], r["refund_receipt_number"], r["amount"]) for r in body["refunds"]] == [
        (refund["refund_id"], "RR-1", 400)
    ]
    assert body["refunds"][0]["points_reversed"] == 4


def test_get_purchase_of_another_store_is_not_found(pos, other_pos):
    purchase_id = pos.purchase(total=1_000).json()["purchase_id"]

    assert_error(other_pos.get(f"/purchases/{purchase_id}"), 404, "purchase_not_found")


def test_get_unknown_purchase_is_not_found(pos):
    assert_error(pos.get("/purchases/987654"), 404, "purchase_not_found")


def test_purchase_is_recorded_for_the_calling_terminal_and_its_store(pos: PosClient, terminal):
    response = pos.purchase(total=100)

    purchase = Purchase.objects.get(pk=response.json()["purchase_id"])
    assert purchase.terminal_id == terminal.terminal.pk
    assert purchase.store_id == terminal.terminal.store_id
