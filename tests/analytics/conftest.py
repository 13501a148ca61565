"""A small chain built through the real entry points (POS API, signed webhooks, linking
services), with every KPI worked out by hand in ``Chain``'s docstring.

The clock is fixed (time-machine) so days and months are the same on every run.
"""

import datetime
import json
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from hq.roles import HqRole
from liff.services.cards import liff_link_existing
from liff.services.id_tokens import VerifiedLineUser
from line_messaging.services.linking import link_complete, link_prepare, link_token_record
from membership.models import Member
from pos_bridge.models import Purchase, StaffRole
from pos_bridge.services.staff import staff_member_create
from tests.line_messaging.conftest import event, new_user_id, sign

SECRET = "analytics-test-channel-secret-0123456789"
TOKYO = datetime.timezone(datetime.timedelta(hours=9))
D1 = datetime.date(2026, 6, 17)
D2 = datetime.date(2026, 6, 18)
TODAY = datetime.date(2026, 6, 20)
NOW = datetime.datetime(2026, 6, 20, 15, 0, tzinfo=TOKYO)


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=TOKYO)


@pytest.fixture(autouse=True)
def line_settings(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    settings.LINE_CHANNEL_SECRET = SECRET
    settings.LINE_CHANNEL_ACCESS_TOKEN = "test-access-token"
    settings.LINE_LINK_BONUS_POINTS = 200
    settings.SITE_URL = "http://testserver"
    settings.LINE_ACCESS_BASE_URL = "http://line-access.test"
    return settings


@pytest.fixture
def clock():
    """Travel to a moment; time stands still until the next call."""
    travellers: list = []

    def move(moment: datetime.datetime) -> None:
        if travellers:
            travellers.pop().stop()
        traveller = time_machine.travel(moment, tick=False)
        traveller.start()
        travellers.append(traveller)

    yield move
    for traveller in travellers:
        traveller.stop()


def webhook(kind: str, user_id: str, **fields) -> None:
    fields.setdefault("timestamp", int(time.time() * 1000))
    if kind == "unfollow":
        fields["reply_token"] = None
    body = json.dumps({"destination": "Ubot", "events": [event(kind, user_id, **fields)]}).encode()
    response = Client().post(
        "/line/webhook",
        data=body,
        content_type="application/json",
        headers={"X-Line-Signature": sign(body, SECRET)},
    )
    assert response.status_code == 200


def _created(response) -> dict:
    assert response.status_code == 201, response.content
    return response.json()


def link_by_chat(*, user_id: str, member: Member) -> None:
    """The chat flow: link token → ownership proven → LINE's accountLink webhook (service)."""
    token = uuid.uuid4().hex
    link_token_record(line_user_id=user_id, link_token=token)
    prepared = link_prepare(link_token=token, member=member)
    nonce = parse_qs(urlparse(prepared.redirect_url).query)["nonce"][0]
    assert link_complete(line_user_id=user_id, nonce=nonce, reply_token=None).linked


def link_by_liff(*, user_id: str, member: Member, store_code: str = "") -> None:
    user = VerifiedLineUser(
        user_id=user_id,
        display_name="LINE",
        expires_at=timezone.now() + datetime.timedelta(hours=1),
    )
    liff_link_existing(
        user=user,
        card_number=member.card_number,
        birth_date=member.birth_date,
        store_code=store_code,
    )


@dataclass
class Chain:
    """Stores 渋谷 (shibuya) and 横浜 (yokohama); members A, B, C, D (tier レギュラー).

    D1 (6/17): A, B, X, Y follow. A buys ¥1,000 at 9:00 (not linked yet), links by chat at
    10:00 (+200 bonus), buys ¥2,000 at 12:00 (linked). A guest buys ¥500 at 13:00. C buys
    ¥3,000 in Yokohama at 14:00.
    D2 (6/18): X blocks. B links from Shibuya's poster at 10:00 (+200) and buys ¥60,000 at
    11:00 (linked; 600 points, then tier シルバー). C pays ¥30 entirely with 30 points in
    Yokohama at 15:00.
    Today (6/20): D links from the LIFF card without ever following (+200).

    friends 4 (A B X Y), blocked 1, effective 3; linked 3 (A B D), linked effective 2;
    link rate 2/3. Sales: 6 purchases, ¥66,530; members 5 / ¥66,030; linked 2 / ¥62,000;
    guest 1 / ¥500. Points earned 10+20+30+600 = 660, bonus 600, redeemed 30.
    Balances A 230, B 800, C 0, D 200: liability 1,230. Tiers レギュラー 3, シルバー 1.
    """

    a: Member
    b: Member
    c: Member
    d: Member
    a_linked_purchase: int
    c_first_purchase: int


@pytest.fixture
def chain(db, clock, store, other_store, pos, other_pos, tiers, make_member, card_code) -> Chain:
    regular = tiers["regular"]
    a, b, c, d = (make_member(tier=regular) for _ in range(4))
    a_user, b_user, x_user, y_user, d_user = (new_user_id() for _ in range(5))

    clock(at(D1, 8))
    for user in (a_user, b_user, x_user, y_user):
        webhook("follow", user, follow={"isUnblocked": False})
    clock(at(D1, 9, 1))
    _created(pos.purchase(card=a.card_number, total=1000, occurred_at=at(D1, 9).isoformat()))
    clock(at(D1, 10))
    link_by_chat(user_id=a_user, member=a)
    clock(at(D1, 12, 1))
    linked = _created(
        pos.purchase(card=a.card_number, total=2000, occurred_at=at(D1, 12).isoformat())
    )
    clock(at(D1, 13, 1))
    _created(pos.purchase(total=500, occurred_at=at(D1, 13).isoformat()))
    clock(at(D1, 14, 1))
    first_c = _created(
        other_pos.purchase(card=c.card_number, total=3000, occurred_at=at(D1, 14).isoformat())
    )

    clock(at(D2, 9))
    webhook("unfollow", x_user)
    clock(at(D2, 10))
    link_by_liff(user_id=b_user, member=b, store_code=store.code)
    clock(at(D2, 11, 1))
    _created(pos.purchase(card=b.card_number, total=60_000, occurred_at=at(D2, 11).isoformat()))
    clock(at(D2, 15, 1))
    _created(
        other_pos.purchase(
            card=card_code(c), total=30, points_to_redeem=30, occurred_at=at(D2, 15).isoformat()
        )
    )

    clock(NOW)
    link_by_liff(user_id=d_user, member=d)
    assert Purchase.objects.count() == 6
    return Chain(
        a=a,
        b=b,
        c=c,
        d=d,
        a_linked_purchase=linked["purchase_id"],
        c_first_purchase=first_c["purchase_id"],
    )


@pytest.fixture
def login(db, store):
    def make(role: str) -> Client:
        user = get_user_model().objects.create_user(username=f"u-{role}", password="x")
        if role in (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST):
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        elif role in StaffRole.values:
            staff_member_create(user=user, store=store, role=role)
        client = Client()
        client.force_login(user)
        return client

    return make
