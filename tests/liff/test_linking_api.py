"""POST /link and /unlink: the LIFF card links exactly like the chat flow (bonus once per
member, welcome, rich menu switch) with the verified ID token as proof of the LINE user."""

import pytest

from line_messaging.models import LineFriend, LinkEvent, LinkSource, OutboxKind, OutboxMessage
from line_messaging.services.linking import link_direct
from membership.models import Member, PointEntry

pytestmark = pytest.mark.django_db(transaction=True)


def test_existing_member_links_and_gets_the_card_bonus_menu_and_welcome(
    line_user, liff_client, member
):
    user_id = line_user()
    client = liff_client(user_id)

    response = client.link(member.card_number)

    assert response.status_code == 200, response.content
    card = response.json()
    assert card["linked"] is True
    assert card["card_number"] == member.card_number
    assert card["bonus_awarded"] == 200
    assert card["points_balance"] == 500
    assert card["code"].startswith("MC")
    friend = LineFriend.objects.get(user_id=user_id)
    assert friend.member_id == member.pk
    assert friend.link_source == LinkSource.LIFF
    outbox = OutboxMessage.objects.filter(line_user_id=user_id)
    assert set(outbox.values_list("kind", flat=True)) == {
        OutboxKind.PUSH,
        OutboxKind.RICHMENU_LINK,
    }
    assert client.card()["card_number"] == member.card_number


def test_card_number_is_normalised(line_user, liff_client, member):
    spaced = " ".join(member.card_number[i : i + 4] for i in range(0, 8, 4))

    assert liff_client(line_user()).link(spaced).status_code == 200


def test_wrong_birth_date_is_one_generic_error_and_is_throttled(line_user, liff_client, member):
    client = liff_client(line_user())

    wrong = [client.link(member.card_number, "1990-04-02") for _ in range(5)]
    unknown = client.link("99999999", "1990-04-01")
    throttled = client.link(member.card_number, "1990-04-01")

    assert {(r.status_code, r.json()["code"]) for r in wrong} == {(400, "link_credentials_invalid")}
    assert unknown.json()["code"] == "link_credentials_invalid"
    assert unknown.json()["message"] == wrong[0].json()["message"]
    assert (throttled.status_code, throttled.json()["code"]) == (429, "link_throttled")
    assert not LineFriend.objects.filter(member=member).exists()


def test_new_member_registers_and_links(line_user, liff_client):
    user_id = line_user()

    response = liff_client(user_id).post(
        "/link",
        {
            "register": {
                "name": "鈴木 一郎",
                "name_kana": "スズキ イチロウ",
                "birth_date": "1985-12-24",
                "gender": "male",
                "prefecture": "神奈川県",
                "agree": True,
            }
        },
    )

    assert response.status_code == 200, response.content
    card = response.json()
    member = Member.objects.get(card_number=card["card_number"])
    assert member.name == "鈴木 一郎"
    assert member.prefecture == "神奈川県"
    assert card["display_name"] == "鈴木 一郎"
    assert card["bonus_awarded"] == 200
    assert card["points_balance"] == 200
    assert LineFriend.objects.get(user_id=user_id).member == member


INVALID_REGISTRATIONS = [
    {"name": "鈴木 一郎", "birth_date": "1985-12-24"},  # no consent
    {"name": "鈴木 一郎", "birth_date": "1985-12-24", "agree": False},
    {"name": "", "birth_date": "1985-12-24", "agree": True},
    {"name": "鈴木 一郎", "birth_date": "1985-13-01", "agree": True},
]


def test_registration_needs_consent_and_valid_data(line_user, liff_client):
    # One live-server test for all cases: each would otherwise cost a database flush.
    client = liff_client(line_user())
    for registration in INVALID_REGISTRATIONS:
        response = client.post("/link", {"register": registration})

        assert response.status_code == 422, registration
        assert response.json()["code"] == "validation_error", registration
    assert not Member.objects.exists()


def test_registration_with_an_unknown_prefecture_keeps_nothing(line_user, liff_client):
    body = {"name": "鈴木", "birth_date": "1985-12-24", "prefecture": "火星", "agree": True}

    response = liff_client(line_user()).post("/link", {"register": body})

    assert (response.status_code, response.json()["code"]) == (422, "member_data_invalid")
    assert not Member.objects.exists()


INVALID_LINK_BODIES = [
    {},
    {"card_number": "10000001"},
    {"card_number": "10000001", "birth_date": "1990-04-01", "register": {"name": "x"}},
    {"card_number": "10000001", "birth_date": "1990-04-01", "user_id": "U" + "0" * 32},
]


def test_link_body_must_choose_one_path(line_user, liff_client):
    client = liff_client(line_user())
    for body in INVALID_LINK_BODIES:
        response = client.post("/link", body)

        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error", body


def test_card_linked_to_another_line_user_is_refused(line_user, liff_client, member):
    link_direct(line_user_id=line_user(), member=member)

    response = liff_client(line_user()).link(member.card_number)

    assert response.status_code == 409
    assert response.json()["code"] == "card_already_linked"


def test_line_user_already_linked_cannot_register_another_card(line_user, liff_client, member):
    user_id = line_user()
    link_direct(line_user_id=user_id, member=member)
    body = {"name": "鈴木", "birth_date": "1985-12-24", "agree": True}

    response = liff_client(user_id).post("/link", {"register": body})

    assert (response.status_code, response.json()["code"]) == (409, "line_already_linked")
    assert Member.objects.count() == 1


def test_unlink_then_relink_keeps_points_and_gives_no_second_bonus(line_user, liff_client, member):
    user_id = line_user()
    client = liff_client(user_id)
    assert client.link(member.card_number).json()["bonus_awarded"] == 200

    unlinked = client.post("/unlink")
    again = client.post("/unlink")
    relinked = client.link(member.card_number).json()

    assert unlinked.json() == {"linked": False, "unlinked": True}
    assert again.json() == {"linked": False, "unlinked": False}
    assert relinked["bonus_awarded"] == 0
    assert relinked["points_balance"] == 500
    assert PointEntry.objects.filter(member=member, reference="link_bonus").count() == 1
    assert list(
        LinkEvent.objects.filter(member=member).order_by("id").values_list("action", "source")
    ) == [("linked", "liff"), ("unlinked", "liff"), ("linked", "liff")]
    assert OutboxMessage.objects.filter(
        line_user_id=user_id, kind=OutboxKind.RICHMENU_UNLINK
    ).exists()


def test_unlinked_card_is_gone_from_the_page(line_user, liff_client, member):
    user_id = line_user()
    link_direct(line_user_id=user_id, member=member)
    client = liff_client(user_id)

    client.post("/unlink")

    assert client.card() == {"linked": False}
    assert client.post("/card/code").json()["code"] == "not_linked"


def test_link_from_a_store_poster_records_the_store(line_user, liff_client, member, store):
    user_id = line_user()

    response = liff_client(user_id).link(member.card_number, store=store.code)

    assert response.status_code == 200
    friend = LineFriend.objects.get(user_id=user_id)
    assert friend.link_source == LinkSource.POSTER
    assert friend.acquired_store == store
    event = LinkEvent.objects.get(friend=friend)
    assert (event.source, event.store) == (LinkSource.POSTER, store)


def test_first_poster_keeps_the_credit_and_unknown_stores_are_ignored(
    line_user, liff_client, make_member, store, other_store
):
    user_id = line_user()
    client = liff_client(user_id)
    first, second = make_member(), make_member()
    client.link(first.card_number, store=store.code)
    client.post("/unlink")

    client.link(second.card_number, store=other_store.code)
    unknown_user = line_user()
    third = make_member()
    liff_client(unknown_user).link(third.card_number, store="no-such-store")

    assert LineFriend.objects.get(user_id=user_id).acquired_store == store
    stranger = LineFriend.objects.get(user_id=unknown_user)
    assert (stranger.link_source, stranger.acquired_store) == (LinkSource.LIFF, None)
