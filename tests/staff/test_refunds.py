"""Refunds on the staff scanner: by receipt number, in the staff member's own store only."""

import pytest

from pos_bridge.models import Purchase, Refund
from tests.staff.conftest import form_key_of


@pytest.fixture
def sale(staff, make_member):
    """A 10,000 yen sale to a member with 500 points who earned 100 more."""
    member = make_member(points=500)
    result = staff.purchase(card=member.card_number, total=10000).context["result"]
    return member, result["receipt_number"]


def test_refund_page_finds_the_purchase_and_offers_the_remaining_amount(staff, sale):
    member, receipt = sale
    response = staff.refund_page(receipt)
    assert response.status_code == 200
    body = response.content.decode()
    assert receipt in body and member.card_number in body
    assert 'name="amount" value="10000"' in body


def test_full_refund_by_receipt_number_reverses_the_earned_points(staff, sale, staff_user):
    member, receipt = sale
    response = staff.refund(receipt=receipt, amount=10000)
    assert response.status_code == 200
    result = response.context["result"]
    assert result["points_reversed"] == 100 and result["points_restored"] == 0
    assert result["points_unrecovered"] == 0 and result["points_balance"] == 500
    refund = Refund.objects.get()
    assert refund.recorded_by == staff_user and refund.purchase.receipt_number == receipt
    assert refund.refund_receipt_number.startswith("R-")
    body = response.content.decode()
    assert refund.refund_receipt_number in body and "−100 pt" in body
    member.refresh_from_db()
    assert member.points_balance == 500


def test_partial_refunds_then_the_default_is_what_remains(staff, sale):
    _member, receipt = sale
    assert staff.refund(receipt=receipt, amount="3,000").status_code == 200
    page = staff.refund_page(receipt)
    assert 'name="amount" value="7000"' in page.content.decode()
    assert staff.refund(receipt=receipt, amount=7000).status_code == 200
    assert Purchase.objects.get().refundable_amount == 0
    assert "全額返品済みです" in staff.refund_page(receipt).content.decode()


def test_refund_restores_points_that_were_spent(staff, make_member, card_code):
    member = make_member(points=1000)
    receipt = staff.purchase(card=card_code(member), total=2000, points=1000).context["result"][
        "receipt_number"
    ]
    result = staff.refund(receipt=receipt, amount=2000).context["result"]
    assert result["points_restored"] == 1000
    assert result["points_reversed"] == 10
    assert result["points_balance"] == 1000


def test_refund_shows_points_that_could_not_be_taken_back(staff, make_member, card_code):
    member = make_member()
    first = staff.purchase(card=member.card_number, total=10000).context["result"]
    # The member spends the 100 earned points before returning the goods.
    staff.purchase(card=card_code(member), total=100, points=100)
    response = staff.refund(receipt=first["receipt_number"], amount=10000)
    result = response.context["result"]
    assert result["points_reversed"] == 0 and result["points_unrecovered"] == 100
    assert "回収できなかったポイント" in response.content.decode()


def test_refund_of_a_pos_api_sale_in_the_same_store(staff, pos, make_member):
    member = make_member()
    pos.purchase(receipt_number="0001-0042", total=5000, card=member.card_number)
    response = staff.refund(receipt="0001-0042", amount=5000)
    assert response.status_code == 200
    assert response.context["result"]["points_reversed"] == 50


def test_another_stores_receipt_is_not_found(staff, other_staff, make_member):
    member = make_member()
    theirs = other_staff.purchase(card=member.card_number, total=5000).context["result"]
    page = staff.refund_page(theirs["receipt_number"])
    assert page.status_code == 404
    assert "購入が見つかりません" in page.content.decode()
    assert "refund-form" not in page.content.decode()
    # Posting the form directly (a key from their own page) finds nothing either.
    key = form_key_of(other_staff.refund_page(theirs["receipt_number"]))
    response = staff.refund(receipt=theirs["receipt_number"], amount=5000, form_key=key)
    assert response.status_code == 404
    assert not Refund.objects.exists()


def test_unknown_receipt_is_not_found(staff):
    response = staff.refund(receipt="S-20260101-XXXXXX", amount=100, form_key="staff-k")
    assert response.status_code == 404
    assert "購入が見つかりません" in response.content.decode()


def test_double_submit_of_one_refund_form_refunds_once(staff, sale):
    _member, receipt = sale
    key = form_key_of(staff.refund_page(receipt))
    first = staff.refund(receipt=receipt, amount=4000, form_key=key)
    second = staff.refund(receipt=receipt, amount=4000, form_key=key)
    assert first.status_code == second.status_code == 200
    assert first.context["result"] == second.context["result"]
    assert Refund.objects.count() == 1
    assert Purchase.objects.get().refunded_amount == 4000


@pytest.mark.parametrize(
    ("amount", "status", "message"),
    [
        ("0", 400, "1 以上"),
        ("abc", 400, "整数を入力してください"),
        ("", 400, "このフィールドは必須です"),
        ("10001", 409, "返品額が返品可能な残額を超えています"),
    ],
)
def test_bad_refund_amounts_are_explained_and_nothing_is_written(
    staff, sale, amount, status, message
):
    _member, receipt = sale
    response = staff.refund(receipt=receipt, amount=amount)
    assert response.status_code == status
    assert message in response.content.decode()
    assert not Refund.objects.exists()
    assert Purchase.objects.get().refunded_amount == 0


def test_lower_case_receipt_number_finds_the_sale(staff, make_member):
    member = make_member()
    receipt = staff.purchase(card=member.card_number, total=1000).context["result"][
        "receipt_number"
    ]
    assert staff.refund_page(receipt.lower()).status_code == 200
