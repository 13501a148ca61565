"""GET /card, POST /card/code and GET /history through the real entry point, with sandbox
ID tokens verified over HTTP."""

import time

import pytest
import time_machine

from line_messaging.models import LineFriend
from line_messaging.services.linking import link_direct
from tests.conftest import PosClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def linked(line_user, liff_client, member):
    """A LINE user linked to ``member`` and a client holding their ID token."""
    user_id = line_user()
    link_direct(line_user_id=user_id, member=member)
    return liff_client(user_id)


def test_unlinked_user_gets_linked_false_and_a_friend_row(line_user, liff_client):
    user_id = line_user("LINE 太郎")

    assert liff_client(user_id).card() == {"linked": False}
    friend = LineFriend.objects.get(user_id=user_id)
    assert friend.member is None
    assert friend.display_name == "LINE 太郎"


def test_linked_user_gets_the_card_with_a_fresh_code(linked, member):
    card = linked.card()

    assert card["linked"] is True
    assert card["card_number"] == member.card_number
    assert card["display_name"] == "山田 花子"
    assert card["points_balance"] == 300 + 200  # granted + link bonus
    assert card["code"].startswith("MC")
    assert 55 <= card["code_expires_in"] <= 60
    assert card["qr_svg"].startswith("<svg")
    assert card["code"] not in card["qr_svg"]  # the image, not the text
    assert {e["points"] for e in card["expiring_points"]} <= {300, 200}
    assert [e["kind"] for e in card["history"]["points"]] == ["bonus", "bonus"]
    assert card["history"]["purchases"] == []


def test_requests_without_a_valid_token_are_refused(liff_line):
    from tests.liff.conftest import LiffClient

    missing = LiffClient(None).get("/card")
    garbage = LiffClient("abc.def.ghi").get("/card")

    assert missing.status_code == 401
    assert missing.json()["code"] == "unauthorized"
    assert garbage.status_code == 401
    assert garbage.json()["code"] == "id_token_invalid"


def test_expired_token_answers_401_id_token_expired(line_user, liff_client):
    client = liff_client(line_user(), expires_in=60)

    with time_machine.travel(time.time() + 61):
        response = client.get("/card")

    assert response.status_code == 401
    assert response.json()["code"] == "id_token_expired"


def test_token_for_another_channel_answers_401(line_user, liff_client, settings):
    client = liff_client(line_user())
    settings.LINE_LOGIN_CHANNEL_ID = "1999999999"

    response = client.get("/card")

    assert response.status_code == 401
    assert response.json()["code"] == "id_token_invalid"


def test_line_down_answers_503(line_user, liff_client, settings):
    client = liff_client(line_user())
    settings.LINE_API_BASE_URL = "http://127.0.0.1:9"

    response = client.get("/card")

    assert response.status_code == 503
    assert response.json()["code"] == "line_unavailable"


def test_a_token_reads_only_its_own_users_card(line_user, liff_client, make_member, member):
    user_a, user_b = line_user(), line_user()
    link_direct(line_user_id=user_a, member=member)
    other = make_member(name="佐藤 次郎")
    link_direct(line_user_id=user_b, member=other)
    client_a = liff_client(user_a)

    # Whatever the page adds, the token alone says who is asking.
    spoofed = client_a.client.get(
        f"/api/liff/v1/card?user_id={user_b}",
        headers={**client_a._headers(), "X-Line-User-Id": user_b},
    )

    assert spoofed.json()["card_number"] == member.card_number
    assert liff_client(user_b).card()["card_number"] == other.card_number


def test_code_refresh_gives_a_new_code_and_the_old_one_stays_valid_until_it_expires(
    linked, member, pos: PosClient
):
    old = linked.card()

    response = linked.post("/card/code")

    assert response.status_code == 200
    new = response.json()
    assert new["code"] != old["code"]
    assert new["qr_svg"].startswith("<svg")
    assert pos.post("/cards/resolve", {"card": old["code"]}).status_code == 200
    assert pos.post("/cards/resolve", {"card": new["code"]}).status_code == 200
    with time_machine.travel(time.time() + 61):
        expired = pos.post("/cards/resolve", {"card": old["code"]})
    assert expired.status_code == 409
    assert expired.json()["code"] == "card_code_expired"


def test_a_code_from_the_card_redeems_points_once(linked, pos: PosClient):
    code = linked.card()["code"]

    first = pos.purchase(total=1000, card=code, points_to_redeem=100)
    again = pos.purchase(total=1000, card=code, points_to_redeem=100)

    assert first.status_code == 201, first.content
    assert again.status_code == 409
    assert again.json()["code"] == "card_code_used"


def test_unlinked_user_cannot_get_a_code_or_history(line_user, liff_client):
    client = liff_client(line_user())

    code = client.post("/card/code")
    history = client.get("/history")

    assert (code.status_code, code.json()["code"]) == (409, "not_linked")
    assert (history.status_code, history.json()["code"]) == (409, "not_linked")


def test_history_pages_purchases_and_points_newest_first(linked, member, pos: PosClient):
    for i in range(7):
        assert pos.purchase(total=1000 + i, card=member.card_number).status_code == 201
    refunded = pos.purchase(total=5000, card=member.card_number).json()["purchase_id"]
    assert pos.refund(refunded, amount=2000).status_code == 201

    card = linked.card()
    first = card["history"]["purchases"]
    assert len(first) == 5
    assert first[0]["id"] == refunded
    assert first[0]["refunded_amount"] == 2000
    assert first[0]["refunds"][0]["amount"] == 2000
    assert first[0]["store_name"] == "渋谷店"
    assert first[0]["points_earned"] == 50
    seen = [p["id"] for p in first]
    cursor = card["history"]["purchases_next"]
    while cursor is not None:
        page = linked.get("/history", kind="purchases", before=cursor, limit=2).json()
        assert page["points"] is None  # only the list asked for
        seen += [p["id"] for p in page["purchases"]]
        cursor = page["purchases_next"]
    assert len(seen) == len(set(seen)) == 8

    points = linked.get("/history", kind="points", limit=3).json()
    assert [e["kind"] for e in points["points"]] == ["reversal", "earn", "earn"]
    assert points["points"][0]["delta"] == -20
    assert points["points"][1]["expires_on"] is not None
    rest = linked.get("/history", kind="points", before=points["points_next"], limit=50).json()
    assert rest["points_next"] is None
    all_entries = points["points"] + rest["points"]
    assert len(all_entries) == 2 + 8 + 1  # two bonuses, eight earns, one reversal
    assert [e["id"] for e in all_entries] == sorted((e["id"] for e in all_entries), reverse=True)


def test_history_of_both_lists_without_kind(linked):
    page = linked.get("/history").json()

    assert page["purchases"] == []
    assert len(page["points"]) == 2
    assert page["purchases_next"] is None
    assert page["points_next"] is None
