"""``POST /api/pos/v1/purchases/{id}/refunds``: points settled in proportion, never below
zero, exactly once."""

import datetime
import io
from collections import Counter

from django.core.management import call_command
from django.utils import timezone

from membership.models import EntryKind, Member, PointEntry, PointLot
from pos_bridge.models import Purchase, Refund
from tests.conftest import grant_points
from tests.pos_bridge.helpers import assert_error, written


def _balance(member: Member) -> int:
    return Member.objects.get(pk=member.pk).points_balance


def _buy(pos, **body) -> dict:
    response = pos.purchase(**body)
    assert response.status_code == 201, response.content
    return response.json()


def _refund(pos, purchase_id: int, **body) -> dict:
    response = pos.refund(purchase_id, **body)
    assert response.status_code == 201, response.content
    return response.json()


def _assert_ledger_clean() -> None:
    stderr = io.StringIO()
    call_command("check_ledger", stdout=io.StringIO(), stderr=stderr)
    assert stderr.getvalue() == ""


def test_partial_refund_reverses_earned_points_in_proportion(pos, make_member):
    member = make_member()
    purchase = _buy(pos, total=1_000, card=member.card_number)

    refund = _refund(pos, purchase["purchase_id"], amount=300)

    assert refund["points_reversed"] == 3
    assert refund["points_restored"] == 0
    assert refund["points_unrecovered"] == 0
    assert refund["points_balance"] == 7
    assert _balance(member) == 7
    stored = Purchase.objects.get(pk=purchase["purchase_id"])
    assert stored.refunded_amount == 300
    assert stored.refundable_amount == 700
    _assert_ledger_clean()


def test_refund_response_has_the_contract_fields(pos, make_member):
    member = make_member()
    purchase = _buy(pos, total=1_000, card=member.card_number)

    refund = _refund(pos, purchase["purchase_id"], amount=1_000)

    assert {
        "refund_id",
        "points_reversed",
        "points_restored",
        "points_unrecovered",
        "points_balance",
    } <= set(refund)


def test_full_refund_reverses_all_earned_points(pos, make_member):
    member = make_member()
    purchase = _buy(pos, total=1_999, card=member.card_number)

    refund = _refund(pos, purchase["purchase_id"], amount=1_999)

    assert refund["points_reversed"] == 19
    assert _balance(member) == 0
    assert Purchase.objects.get(pk=purchase["purchase_id"]).refundable_amount == 0
    _assert_ledger_clean()


def test_full_refund_restores_used_points_and_reverses_earned_points(pos, make_member, card_code):
    member = make_member(points=1_000)
    purchase = _buy(pos, total=1_000, card=card_code(member), points_to_redeem=400)
    assert _balance(member) == 600 + 6

    refund = _refund(pos, purchase["purchase_id"], amount=1_000)

    assert refund["points_restored"] == 400
    assert refund["points_reversed"] == 6
    assert refund["points_balance"] == 1_000
    _assert_ledger_clean()


def test_partial_refunds_round_down_on_running_totals_and_settle_exactly(
    pos, make_member, card_code
):
    member = make_member(points=1_000)
    # Paid in money 999 - 333 = 666 → 6 points earned.
    purchase = _buy(pos, total=999, card=card_code(member), points_to_redeem=333)
    assert purchase["points_earned"] == 6
    pid = purchase["purchase_id"]

    first = _refund(pos, pid, amount=500)
    second = _refund(pos, pid, amount=499)

    # After 500 of 999: floor(333 * 500 / 999) = 166 restored, floor(6 * 500 / 999) = 3.
    assert (first["points_restored"], first["points_reversed"]) == (166, 3)
    assert (second["points_restored"], second["points_reversed"]) == (167, 3)
    stored = Purchase.objects.get(pk=pid)
    assert stored.points_restored == 333 == stored.points_redeemed
    assert stored.points_reversed == 6 == stored.points_earned
    assert _balance(member) == 1_000
    _assert_ledger_clean()


def test_many_small_refunds_never_drift_from_the_proportional_total(pos, make_member):
    member = make_member()
    purchase = _buy(pos, total=1_000, card=member.card_number)
    pid = purchase["purchase_id"]

    reversed_so_far = 0
    refunded = 0
    for amount in (150, 150, 1, 99, 600):
        refunded += amount
        reversed_so_far += _refund(pos, pid, amount=amount)["points_reversed"]
        assert reversed_so_far == 10 * refunded // 1_000

    assert reversed_so_far == 10
    assert _balance(member) == 0


def test_refund_of_more_than_the_purchase_total_is_refused(pos, make_member):
    member = make_member()
    pid = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    before = written()

    response = pos.refund(pid, amount=1_001)

    assert_error(response, 409, "refund_exceeds_purchase")
    assert written() == before


def test_refund_of_more_than_what_is_left_is_refused(pos, make_member):
    member = make_member()
    pid = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    _refund(pos, pid, amount=600)
    before = written()

    response = pos.refund(pid, amount=401)

    assert_error(response, 409, "refund_exceeds_purchase")
    assert written() == before
    assert _refund(pos, pid, amount=400)["points_reversed"] == 4


def test_refund_of_another_stores_purchase_is_not_found(pos, other_pos, make_member):
    member = make_member()
    pid = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    before = written()

    response = other_pos.refund(pid, amount=100)

    assert_error(response, 404, "purchase_not_found")
    assert written() == before


def test_refund_of_an_unknown_purchase_is_not_found(pos):
    before = written()

    assert_error(pos.refund(424242, amount=100), 404, "purchase_not_found")
    assert written() == before


def test_refund_when_earned_points_were_spent_reports_them_unrecovered(pos, make_member, card_code):
    member = make_member()
    purchase = _buy(pos, total=1_000, card=member.card_number)
    _buy(pos, total=10, card=card_code(member), points_to_redeem=10)
    assert _balance(member) == 0

    refund = _refund(pos, purchase["purchase_id"], amount=1_000)

    assert refund["points_reversed"] == 0
    assert refund["points_unrecovered"] == 10
    assert refund["points_balance"] == 0
    assert Refund.objects.get(pk=refund["refund_id"]).points_unrecovered == 10
    stored = Purchase.objects.get(pk=purchase["purchase_id"])
    assert stored.points_unrecovered == 10
    assert stored.points_reversed == 0
    _assert_ledger_clean()


def test_refund_when_some_earned_points_were_spent_takes_back_what_is_left(
    pos, make_member, card_code
):
    member = make_member()
    purchase = _buy(pos, total=1_000, card=member.card_number)
    _buy(pos, total=4, card=card_code(member), points_to_redeem=4)

    refund = _refund(pos, purchase["purchase_id"], amount=1_000)

    assert (refund["points_reversed"], refund["points_unrecovered"]) == (6, 4)
    assert _balance(member) == 0


def test_unrecovered_points_are_not_charged_again_by_a_later_refund(pos, make_member, card_code):
    member = make_member()
    purchase = _buy(pos, total=1_000, card=member.card_number)
    _buy(pos, total=10, card=card_code(member), points_to_redeem=10)
    first = _refund(pos, purchase["purchase_id"], amount=500)
    grant_points(member, 100)

    second = _refund(pos, purchase["purchase_id"], amount=500)

    assert (first["points_reversed"], first["points_unrecovered"]) == (0, 5)
    assert (second["points_reversed"], second["points_unrecovered"]) == (5, 0)
    assert _balance(member) == 95


def test_refund_restores_used_points_before_reversing_so_it_can_pay_its_own_reversal(
    pos, make_member, card_code
):
    member = make_member(points=100)
    # Paid 900 in money → 9 points earned, then all 9 are spent elsewhere.
    purchase = _buy(pos, total=1_000, card=card_code(member), points_to_redeem=100)
    _buy(pos, total=9, card=card_code(member), points_to_redeem=9)
    assert _balance(member) == 0

    refund = _refund(pos, purchase["purchase_id"], amount=1_000)

    assert refund["points_restored"] == 100
    assert refund["points_reversed"] == 9
    assert refund["points_unrecovered"] == 0
    assert refund["points_balance"] == 91
    _assert_ledger_clean()


def test_refund_with_same_key_and_body_replays_and_refunds_once(pos, make_member):
    member = make_member()
    pid = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    body = {
        "refund_receipt_number": "RR-1",
        "amount": 500,
        "occurred_at": timezone.now().isoformat(),
    }

    first = pos.post(f"/purchases/{pid}/refunds", body, key="refund-key")
    second = pos.post(f"/purchases/{pid}/refunds", body, key="refund-key")

    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert Refund.objects.count() == 1
    assert _balance(member) == 5


def test_refund_key_reused_with_a_different_body_is_refused(pos, make_member):
    member = make_member()
    pid = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    _refund(pos, pid, key="refund-key", refund_receipt_number="RR-1", amount=500)
    before = written()

    response = pos.refund(pid, key="refund-key", refund_receipt_number="RR-1", amount=400)

    assert_error(response, 422, "idempotency_key_reused")
    assert written() == before


def test_refund_key_reused_for_another_purchase_is_refused(pos, make_member):
    member = make_member()
    a = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    b = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    occurred_at = timezone.now().isoformat()
    body = {"refund_receipt_number": "RR-1", "amount": 100, "occurred_at": occurred_at}
    assert pos.post(f"/purchases/{a}/refunds", body, key="k").status_code == 201
    before = written()

    response = pos.post(f"/purchases/{b}/refunds", body, key="k")

    assert_error(response, 422, "idempotency_key_reused")
    assert written() == before


def test_duplicate_refund_receipt_number_under_a_new_key_is_refused(pos, make_member):
    member = make_member()
    pid = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    _refund(pos, pid, refund_receipt_number="RR-1", amount=100)
    before = written()

    response = pos.refund(pid, refund_receipt_number="RR-1", amount=100)

    assert_error(response, 409, "duplicate_receipt")
    assert written() == before


def test_same_refund_receipt_number_in_another_store_is_fine(pos, other_pos, make_member):
    member = make_member()
    a = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    b = _buy(other_pos, total=1_000, card=member.card_number)["purchase_id"]

    _refund(pos, a, refund_receipt_number="RR-1", amount=100)
    _refund(other_pos, b, refund_receipt_number="RR-1", amount=100)

    assert Refund.objects.filter(refund_receipt_number="RR-1").count() == 2


def test_refund_occurred_in_the_future_is_refused(pos, make_member):
    member = make_member()
    pid = _buy(pos, total=1_000, card=member.card_number)["purchase_id"]
    before = written()
    tomorrow = timezone.now() + datetime.timedelta(days=1)

    response = pos.refund(pid, amount=100, occurred_at=tomorrow.isoformat())

    assert_error(response, 422, "occurred_at_in_future")
    assert written() == before


def test_refund_of_a_non_member_purchase_moves_no_points(pos):
    pid = _buy(pos, total=1_000)["purchase_id"]

    refund = _refund(pos, pid, amount=1_000)

    assert refund["points_balance"] is None
    assert (refund["points_reversed"], refund["points_restored"]) == (0, 0)
    assert PointEntry.objects.count() == 0


def test_refund_below_the_tier_threshold_drops_the_tier(pos, make_member, tiers):
    member = make_member()
    purchase = _buy(pos, total=60_000, card=member.card_number)
    assert purchase["tier"] == tiers["silver"].name

    _refund(pos, purchase["purchase_id"], amount=20_000)

    assert Member.objects.get(pk=member.pk).tier == tiers["regular"]


def test_restored_points_keep_the_expiry_of_the_lot_they_were_spent_from(
    pos, make_member, card_code
):
    member = make_member()
    expires_on = timezone.localdate() + datetime.timedelta(days=30)
    grant_points(member, 500, expires_on=expires_on)
    pid = _buy(pos, total=1_000, card=card_code(member), points_to_redeem=200)["purchase_id"]

    refund = _refund(pos, pid, amount=1_000)

    restored = PointLot.objects.get(entry__reference=f"refund:{refund['refund_id']}")
    assert restored.points == 200
    assert restored.expires_on == expires_on


def test_restored_points_never_outlive_the_lots_they_were_spent_from(pos, make_member, card_code):
    """Buy-and-return must not extend the life of points: each restored point keeps the
    expiry of the lot it came from, not the latest expiry among them."""
    member = make_member()
    soon = timezone.localdate() + datetime.timedelta(days=10)
    later = timezone.localdate() + datetime.timedelta(days=200)
    grant_points(member, 100, expires_on=soon)
    grant_points(member, 100, expires_on=later)
    # FIFO by expiry: 100 from the lot expiring soon, 50 from the later one.
    pid = _buy(pos, total=150, card=card_code(member), points_to_redeem=150)["purchase_id"]

    refund = _refund(pos, pid, amount=150)

    assert refund["points_restored"] == 150
    restored: Counter[datetime.date] = Counter()
    for lot in PointLot.objects.filter(
        entry__reference=f"refund:{refund['refund_id']}", entry__delta__gt=0
    ):
        restored[lot.expires_on] += lot.points
    assert dict(restored) == {soon: 100, later: 50}


def test_refund_entries_are_recorded_as_reversals_of_the_refund(pos, make_member, card_code):
    member = make_member(points=100)
    pid = _buy(pos, total=1_000, card=card_code(member), points_to_redeem=100)["purchase_id"]

    refund = _refund(pos, pid, amount=1_000)

    entries = PointEntry.objects.filter(reference=f"refund:{refund['refund_id']}")
    assert sorted(e.delta for e in entries) == [-9, 100]
    assert {e.kind for e in entries} == {EntryKind.REVERSAL}
