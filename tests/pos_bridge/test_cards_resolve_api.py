"""``POST /api/pos/v1/cards/resolve``: who is at the till, and may they spend points."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from membership.models import CardCode, MemberStatus
from tests.pos_bridge.helpers import assert_error, written


def test_resolve_card_number_shows_member_without_redeem_right(pos, make_member):
    member = make_member(points=120, name="佐藤 一郎")

    response = pos.post("/cards/resolve", {"card": member.card_number})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["card_number"] == member.card_number
    assert body["display_name"] == "佐藤 一郎"
    assert body["tier"] is None
    assert body["points_balance"] == 120
    assert body["can_redeem"] is False
    assert {"card_number", "display_name", "tier", "points_balance", "can_redeem"} <= set(body)


def test_resolve_card_code_allows_redeeming_when_member_has_points(pos, make_member, card_code):
    member = make_member(points=120)

    body = pos.post("/cards/resolve", {"card": card_code(member)}).json()

    assert body["card_number"] == member.card_number
    assert body["can_redeem"] is True
    assert body["points_balance"] == 120


def test_resolve_card_code_of_member_without_points_cannot_redeem(pos, make_member, card_code):
    member = make_member()

    assert pos.post("/cards/resolve", {"card": card_code(member)}).json()["can_redeem"] is False


def test_resolve_does_not_consume_the_card_code(pos, make_member, card_code):
    member = make_member(points=100)
    code = card_code(member)

    assert pos.post("/cards/resolve", {"card": code}).status_code == 200
    assert pos.post("/cards/resolve", {"card": code}).status_code == 200

    assert CardCode.objects.get(member=member).used_at is None
    assert pos.purchase(total=1_000, card=code, points_to_redeem=100).status_code == 201


def test_resolve_shows_tier_name(pos, make_member, tiers):
    member = make_member(tier=tiers["gold"])

    assert pos.post("/cards/resolve", {"card": member.card_number}).json()["tier"] == "ゴールド"


@pytest.mark.parametrize("spelling", ["{n}", " {n} ", "{a}-{b}", "{a} {b}", "{wide}"])
def test_resolve_accepts_card_number_with_separators_or_full_width_digits(
    pos, make_member, spelling
):
    member = make_member(card_number="12345678")
    wide = "".join(chr(0xFF10 + int(d)) for d in "12345678")
    card = spelling.format(n="12345678", a="1234", b="5678", wide=wide)

    response = pos.post("/cards/resolve", {"card": card})

    assert response.status_code == 200, response.content
    assert response.json()["card_number"] == member.card_number


def test_resolve_accepts_a_lower_case_card_code(pos, make_member, card_code):
    member = make_member()

    response = pos.post("/cards/resolve", {"card": card_code(member).lower()})

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("card", ["00000000", "12", "hello", "MC" + "A" * 26, "MC123"])
def test_resolve_unknown_card_is_not_found(pos, make_member, card):
    make_member(card_number="12345678")

    assert_error(pos.post("/cards/resolve", {"card": card}), 404, "card_not_found")


def test_resolve_tampered_card_code_is_not_found(pos, make_member, card_code):
    code = card_code(make_member())
    tampered = code[:10] + ("A" if code[10] != "A" else "B") + code[11:]

    assert_error(pos.post("/cards/resolve", {"card": tampered}), 404, "card_not_found")


def test_resolve_expired_card_code_is_refused(pos, make_member, card_code):
    code = card_code(make_member(points=10))

    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=61)):
        response = pos.post("/cards/resolve", {"card": code})

    assert_error(response, 409, "card_code_expired")


def test_resolve_used_card_code_is_refused(pos, make_member, card_code):
    code = card_code(make_member(points=10))
    assert pos.purchase(total=100, card=code).status_code == 201

    assert_error(pos.post("/cards/resolve", {"card": code}), 409, "card_code_used")


def test_resolve_withdrawn_member_is_refused(pos, make_member):
    member = make_member(status=MemberStatus.WITHDRAWN)

    assert_error(pos.post("/cards/resolve", {"card": member.card_number}), 409, "member_inactive")


def test_resolve_works_at_any_store_of_the_chain(other_pos, make_member):
    member = make_member(points=5)

    assert other_pos.post("/cards/resolve", {"card": member.card_number}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"card": ""},
        {"card": None},
        {"card": 12345678},
        {"card": "1" * 65},
        {"card": "1", "x": 1},
    ],
    ids=["missing", "empty", "null", "number", "too_long", "unknown_field"],
)
def test_resolve_with_bad_body_is_a_validation_error(pos, make_member, body):
    make_member(card_number="12345678")

    assert_error(pos.post("/cards/resolve", body), 422, "validation_error")


def test_resolve_writes_nothing(pos, make_member, card_code):
    member = make_member(points=10)
    code = card_code(member)
    before = written()

    pos.post("/cards/resolve", {"card": code})
    pos.post("/cards/resolve", {"card": member.card_number})
    pos.post("/cards/resolve", {"card": "00000000"})

    assert written() == before
