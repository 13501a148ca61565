import datetime
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from line_messaging.models import LineFriend, LinkEvent, LinkNonce, OutboxMessage
from membership.models import Member, PointEntry
from tests.line_messaging.conftest import new_user_id

BIRTH = datetime.date(1990, 4, 1)


def _submit_existing(
    link_token: str, card_number: str, birth_date: str = "1990-04-01", client=None
):
    client = client or Client()
    return client.post(
        f"/line/link/?linkToken={link_token}",
        {
            "link_token": link_token,
            "mode": "existing",
            "existing-card_number": card_number,
            "existing-birth_date": birth_date,
        },
    )


def _nonce_from(response) -> str:
    assert response.status_code == 302, response.content.decode()[:500]
    query = parse_qs(urlparse(response["Location"]).query)
    return query["nonce"][0]


@pytest.fixture
def member(make_member) -> Member:
    return make_member(birth_date=BIRTH, name="山田 花子")


def test_link_page_shows_both_paths_for_a_valid_token(issue_link_token, user_id):
    token = issue_link_token(user_id)

    page = Client().get(f"/line/link/?linkToken={token}")

    assert page.status_code == 200
    body = page.content.decode()
    assert "会員カードをお持ちの方" in body and "新規会員登録" in body
    assert "csrfmiddlewaretoken" in body


def test_link_page_refuses_an_unknown_token(db):
    page = Client().get("/line/link/?linkToken=forged")

    assert page.status_code == 400
    assert "有効期限" in page.content.decode()


def test_existing_member_links_and_gets_the_bonus_menu_and_welcome(
    webhook, issue_link_token, user_id, member
):
    webhook.follow(user_id)
    token = issue_link_token(user_id)

    response = _submit_existing(token, member.card_number)
    nonce = _nonce_from(response)
    assert response["Location"].startswith("http://line-access.test/dialog/bot/accountLink?")
    assert len(nonce) >= 22  # >= 128 bits, base64

    webhook.account_link(user_id, result="ok", nonce=nonce)

    friend = LineFriend.objects.get(user_id=user_id)
    assert friend.member_id == member.pk and friend.link_source == "chat"
    member.refresh_from_db()
    assert member.points_balance == 200
    assert PointEntry.objects.get(member=member).kind == "bonus"
    kinds = set(OutboxMessage.objects.filter(line_user_id=user_id).values_list("purpose", "kind"))
    assert ("link_welcome", "reply") in kinds
    assert ("richmenu", "richmenu_link") in kinds
    assert LinkEvent.objects.filter(action="linked", member=member).count() == 1


def test_new_registration_creates_a_member_and_links_it(webhook, issue_link_token, user_id):
    token = issue_link_token(user_id)

    response = Client().post(
        f"/line/link/?linkToken={token}",
        {
            "link_token": token,
            "mode": "register",
            "register-name": "新規 太郎",
            "register-birth_date": "2000-02-29",
            "register-gender": "male",
            "register-prefecture": "東京都",
            "register-agree": "on",
        },
    )
    webhook.account_link(user_id, result="ok", nonce=_nonce_from(response))

    member = LineFriend.objects.get(user_id=user_id).member
    assert member is not None and member.name == "新規 太郎" and member.card_number.startswith("9")
    assert member.points_balance == 200


def test_registration_without_consent_is_refused_and_creates_nothing(issue_link_token, user_id):
    token = issue_link_token(user_id)

    response = Client().post(
        f"/line/link/?linkToken={token}",
        {
            "link_token": token,
            "mode": "register",
            "register-name": "x",
            "register-birth_date": "2000-01-01",
        },
    )

    assert response.status_code == 400
    assert Member.objects.count() == 0


def test_wrong_birth_date_and_unknown_card_get_the_same_generic_error(
    issue_link_token, user_id, member
):
    token = issue_link_token(user_id)

    wrong_birth = _submit_existing(token, member.card_number, "1991-04-01")
    unknown = _submit_existing(token, "99999999", "1990-04-01")

    assert wrong_birth.status_code == unknown.status_code == 400
    assert "会員番号または生年月日が正しくありません" in wrong_birth.content.decode()
    assert "会員番号または生年月日が正しくありません" in unknown.content.decode()
    assert LinkNonce.objects.count() == 0


def test_attempts_are_throttled_per_card_number_across_tokens(issue_link_token, member):
    for _ in range(5):
        _submit_existing(issue_link_token(new_user_id()), member.card_number, "1980-01-01")

    right_details = _submit_existing(issue_link_token(new_user_id()), member.card_number)

    assert right_details.status_code == 400
    assert "試行回数が多すぎます" in right_details.content.decode()


def test_attempts_are_throttled_per_link_token(issue_link_token, user_id, make_member):
    token = issue_link_token(user_id)
    for i in range(5):
        _submit_existing(token, f"5555000{i}", "1980-01-01")

    other_member = make_member(birth_date=BIRTH)
    response = _submit_existing(token, other_member.card_number)

    assert "試行回数が多すぎます" in response.content.decode()


def test_failed_result_changes_nothing(webhook, issue_link_token, user_id, member):
    nonce = _nonce_from(_submit_existing(issue_link_token(user_id), member.card_number))

    webhook.account_link(user_id, result="failed", nonce=nonce)

    assert not LineFriend.objects.filter(user_id=user_id, member__isnull=False).exists()
    assert Member.objects.get(pk=member.pk).points_balance == 0


def test_unknown_nonce_changes_nothing(webhook, user_id, member):
    webhook.account_link(user_id, result="ok", nonce="x" * 43)

    assert not LineFriend.objects.filter(member__isnull=False).exists()
    assert PointEntry.objects.count() == 0


def test_nonce_is_single_use(webhook, issue_link_token, user_id, member):
    nonce = _nonce_from(_submit_existing(issue_link_token(user_id), member.card_number))
    webhook.account_link(user_id, result="ok", nonce=nonce)
    webhook.postback(user_id, "action=unlink")

    webhook.account_link(user_id, result="ok", nonce=nonce)

    assert LineFriend.objects.get(user_id=user_id).member_id is None


def test_expired_nonce_changes_nothing(webhook, issue_link_token, user_id, member):
    nonce = _nonce_from(_submit_existing(issue_link_token(user_id), member.card_number))

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=11)):
        webhook.account_link(user_id, result="ok", nonce=nonce)

    assert LineFriend.objects.filter(member__isnull=False).count() == 0


def test_a_nonce_issued_to_another_line_user_is_refused(webhook, issue_link_token, user_id, member):
    nonce = _nonce_from(_submit_existing(issue_link_token(user_id), member.card_number))
    attacker = new_user_id()

    webhook.account_link(attacker, result="ok", nonce=nonce)

    assert not LineFriend.objects.filter(member=member).exists()


def test_a_card_already_linked_to_another_line_user_is_refused_with_a_clear_message(
    webhook, issue_link_token, user_id, member
):
    webhook.account_link(
        user_id,
        result="ok",
        nonce=_nonce_from(_submit_existing(issue_link_token(user_id), member.card_number)),
    )
    someone_else = new_user_id()

    response = _submit_existing(issue_link_token(someone_else), member.card_number)

    assert response.status_code == 400
    assert "別のLINEアカウントと連携されています" in response.content.decode()
    assert LineFriend.objects.get(member=member).user_id == user_id


def test_unlink_keeps_points_switches_menu_and_relinking_gives_no_second_bonus(
    webhook, issue_link_token, user_id, member
):
    webhook.account_link(
        user_id,
        result="ok",
        nonce=_nonce_from(_submit_existing(issue_link_token(user_id), member.card_number)),
    )

    webhook.postback(user_id, "action=unlink_confirm")
    webhook.postback(user_id, "action=unlink")

    friend = LineFriend.objects.get(user_id=user_id)
    assert friend.member_id is None
    assert Member.objects.get(pk=member.pk).points_balance == 200
    assert OutboxMessage.objects.filter(line_user_id=user_id, kind="richmenu_unlink").count() == 1
    assert OutboxMessage.objects.filter(line_user_id=user_id, purpose="unlink_confirm").count() == 1

    webhook.account_link(
        user_id,
        result="ok",
        nonce=_nonce_from(_submit_existing(issue_link_token(user_id), member.card_number)),
    )

    assert LineFriend.objects.get(user_id=user_id).member_id == member.pk
    assert Member.objects.get(pk=member.pk).points_balance == 200
    assert PointEntry.objects.filter(member=member, kind="bonus").count() == 1
    assert LinkEvent.objects.filter(member=member).count() == 3


def test_attempts_are_throttled_per_ip_across_tokens_and_cards(issue_link_token, make_member):
    for i in range(20):
        _submit_existing(issue_link_token(new_user_id()), f"7777{i:04d}", "1980-01-01")
    member = make_member(birth_date=BIRTH)

    response = _submit_existing(issue_link_token(new_user_id()), member.card_number)

    assert "試行回数が多すぎます" in response.content.decode()
    assert not LineFriend.objects.filter(member=member).exists()
