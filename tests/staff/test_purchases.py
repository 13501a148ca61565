"""Recording a sale on the staff scanner: card lookup, earn and redeem, exactly once."""

import datetime
import re

import pytest
import time_machine
from django.utils import timezone

from membership.models import CardCode
from pos_bridge.models import IdempotencyRecord, IdempotencyState, Purchase, Terminal, TerminalKind
from pos_bridge.services import staff as staff_service
from pos_bridge.services.idempotency import request_fingerprint
from pos_bridge.services.staff import staff_terminal_for_store
from tests.staff.conftest import form_key_of


def test_lookup_by_card_number_shows_the_member_and_that_points_cannot_be_spent(
    staff, make_member, tiers
):
    member = make_member(points=500, name="佐藤 一郎", tier=tiers["silver"])
    response = staff.lookup(member.card_number)
    assert response.status_code == 200
    body = response.content.decode()
    assert "佐藤 一郎" in body and "シルバー" in body and ">500<" in body
    assert "ポイントの付与のみできます" in body
    assert 'name="points_to_redeem" value="0"' in body  # hidden: no points field
    assert response.context["lookup"].can_redeem is False


def test_lookup_by_card_code_allows_points_and_leaves_the_code_unused(
    staff, make_member, card_code
):
    member = make_member(points=500)
    code = card_code(member)
    response = staff.lookup(code)
    assert response.status_code == 200
    assert response.context["lookup"].can_redeem is True
    assert "ポイントを利用できます" in response.content.decode()
    assert CardCode.objects.get().used_at is None


@pytest.mark.parametrize(
    ("card", "status", "message"),
    [
        ("9999999999", 404, "会員カードが見つかりません"),
        ("MCAAAAAAAAAAAAAAAAAAAAAAAAAA", 404, "会員カードが見つかりません"),
        ("", 400, "このフィールドは必須です"),
    ],
)
def test_unknown_card_is_explained_in_japanese(staff, card, status, message):
    response = staff.lookup(card)
    assert response.status_code == status
    assert message in response.content.decode()


def test_purchase_with_a_card_number_earns_points(staff, make_member, staff_user, store):
    member = make_member(points=100)
    response = staff.purchase(card=member.card_number, total="3,280")
    assert response.status_code == 200
    result = response.context["result"]
    assert result["points_earned"] == 32 and result["points_balance"] == 132
    purchase = Purchase.objects.get()
    assert purchase.store == store and purchase.total == 3280 and purchase.member == member
    assert purchase.identified_by == "card_number"
    assert purchase.recorded_by == staff_user
    assert purchase.terminal.kind == TerminalKind.STAFF_WEB
    assert re.fullmatch(r"S-\d{8}-[0-9A-HJKMNP-TV-Z]{6}", purchase.receipt_number)
    body = response.content.decode()
    assert purchase.receipt_number in body and "+32 pt" in body and "132 pt" in body


def test_spending_points_needs_the_card_code(staff, make_member):
    member = make_member(points=500)
    response = staff.purchase(card=member.card_number, total=1000, points=100)
    assert response.status_code == 403
    assert "アプリの会員証コードの読み取りが必要です" in response.content.decode()
    assert not Purchase.objects.exists()
    member.refresh_from_db()
    assert member.points_balance == 500


def test_card_code_spends_points_and_is_used_up(staff, make_member, card_code):
    member = make_member(points=500)
    code = card_code(member)
    response = staff.purchase(card=code, total=1000, points=300)
    assert response.status_code == 200
    result = response.context["result"]
    assert result["points_redeemed"] == 300
    assert result["points_earned"] == 7  # (1000 - 300) // 100
    assert result["points_balance"] == 207
    assert Purchase.objects.get().identified_by == "card_code"
    assert CardCode.objects.get().used_at is not None


def test_double_submit_of_one_form_records_one_purchase(staff, make_member):
    member = make_member()
    key = form_key_of(staff.lookup(member.card_number))
    first = staff.purchase(card=member.card_number, total=2000, form_key=key)
    second = staff.purchase(card=member.card_number, total=2000, form_key=key)
    assert first.status_code == second.status_code == 200
    assert first.context["result"] == second.context["result"]
    assert Purchase.objects.count() == 1
    member.refresh_from_db()
    assert member.points_balance == 20


def test_double_submit_with_a_card_code_records_one_purchase(staff, make_member, card_code):
    member = make_member(points=500)
    code = card_code(member)
    key = form_key_of(staff.lookup(code))
    first = staff.purchase(card=code, total=1000, points=500, form_key=key)
    second = staff.purchase(card=code, total=1000, points=500, form_key=key)
    # The replay shows the first result, not "code already used".
    assert first.status_code == second.status_code == 200
    assert second.context["result"]["receipt_number"] == first.context["result"]["receipt_number"]
    assert Purchase.objects.count() == 1


def test_changed_resubmit_of_a_recorded_form_is_refused(staff, make_member):
    member = make_member()
    key = form_key_of(staff.lookup(member.card_number))
    staff.purchase(card=member.card_number, total=2000, form_key=key)
    response = staff.purchase(card=member.card_number, total=20000, form_key=key)
    assert response.status_code == 409
    assert "この画面は登録済みです" in response.content.decode()
    assert Purchase.objects.count() == 1


def test_submit_while_the_first_tap_is_still_running_says_processing(
    staff, make_member, store, monkeypatch
):
    monkeypatch.setattr(staff_service, "IN_PROGRESS_WAIT_SECONDS", 0)
    member = make_member()
    key = form_key_of(staff.lookup(member.card_number))
    now = timezone.now()
    IdempotencyRecord.objects.create(
        terminal=staff_terminal_for_store(store=store),
        key=key,
        operation="staff_purchase",
        request_hash=request_fingerprint(
            operation="staff_purchase",
            payload={"card": member.card_number, "total": 2000, "points_to_redeem": 0},
        ),
        state=IdempotencyState.IN_PROGRESS,
        lease_expires_at=now + datetime.timedelta(seconds=30),
        created_at=now,
    )
    response = staff.purchase(card=member.card_number, total=2000, form_key=key)
    assert response.status_code == 409
    assert "処理中です" in response.content.decode()
    assert not Purchase.objects.exists()


def test_failed_submit_can_be_corrected_with_the_same_form(staff, make_member, card_code):
    member = make_member(points=100)
    code = card_code(member)
    key = form_key_of(staff.lookup(code))
    refused = staff.purchase(card=code, total=1000, points=200, form_key=key)
    assert refused.status_code == 409
    assert "ポイント残高が不足しています" in refused.content.decode()
    assert form_key_of(refused) == key  # same form shown again with the same key
    accepted = staff.purchase(card=code, total=1000, points=100, form_key=key)
    assert accepted.status_code == 200
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize(
    ("total", "points", "field", "message"),
    [
        ("", "0", "total", "このフィールドは必須です"),
        ("0", "0", "total", "1 以上"),
        ("-500", "0", "total", "1 以上"),
        ("abc", "0", "total", "整数を入力してください"),
        ("12.5", "0", "total", "整数を入力してください"),
        ("100000000", "0", "total", "9999999 以下"),
        ("1000", "-1", "points_to_redeem", "0 以上"),
        ("1000", "1001", "points_to_redeem", "お会計金額以下にしてください"),
    ],
)
def test_bad_amounts_are_explained_in_japanese_and_nothing_is_written(
    staff, make_member, card_code, total, points, field, message
):
    member = make_member(points=5000)
    response = staff.purchase(card=card_code(member), total=total, points=points)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert message in response.content.decode()
    assert not Purchase.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_amounts_typed_with_fullwidth_digits_and_separators_are_read(staff, make_member):
    member = make_member()
    response = staff.purchase(card=member.card_number, total="１，２００円")
    assert response.status_code == 200
    assert Purchase.objects.get().total == 1200


def test_expired_card_code_asks_for_a_rescan_keeping_the_amount(staff, make_member, card_code):
    member = make_member(points=500)
    code = card_code(member)
    key = form_key_of(staff.lookup(code))
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=2)):
        response = staff.purchase(card=code, total=4321, points=100, form_key=key)
    assert response.status_code == 409
    body = response.content.decode()
    assert "有効期限が切れています" in body
    assert 'name="total" value="4321"' in body  # carried into the rescan form
    assert not Purchase.objects.exists()
    rescanned = staff.lookup(card_code(member), total="4321")
    assert rescanned.context["form"].initial["total"] == 4321


def test_each_store_gets_one_staff_terminal_whose_key_is_never_shown(
    staff, other_staff, make_member, store, other_store
):
    member = make_member()
    for _ in range(2):
        staff.purchase(card=member.card_number, total=500)
    other_staff.purchase(card=member.card_number, total=500)
    terminals = Terminal.objects.filter(kind=TerminalKind.STAFF_WEB)
    assert sorted(t.store.code for t in terminals) == sorted([store.code, other_store.code])
    assert Purchase.objects.filter(store=store).count() == 2


def test_revoked_staff_terminal_stops_the_stores_scanner(staff, make_member, store):
    from pos_bridge.services.stores import terminal_revoke

    terminal_revoke(terminal=staff_terminal_for_store(store=store))
    member = make_member()
    response = staff.purchase(card=member.card_number, total=500)
    assert response.status_code == 403
    assert "スタッフ画面は本部により停止されています" in response.content.decode()
    assert not Purchase.objects.exists()


def test_inactive_store_cannot_record(staff, make_member, store):
    store.active = False
    store.save()
    member = make_member()
    response = staff.purchase(card=member.card_number, total=500)
    assert response.status_code == 403
    assert "この店舗は現在利用できません" in response.content.decode()


def test_scanner_lists_the_stores_recent_purchases_only(staff, other_staff, make_member, store):
    member = make_member()
    mine = staff.purchase(card=member.card_number, total=500).context["result"]
    theirs = other_staff.purchase(card=member.card_number, total=700).context["result"]
    body = staff.client.get("/staff/").content.decode()
    assert mine["receipt_number"] in body
    assert theirs["receipt_number"] not in body
