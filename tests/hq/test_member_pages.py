"""/hq/members/: search, the 360° page, masking for analysts, and role boundaries."""

import pytest
from django.test import Client

from hq.roles import HqRole
from line_messaging.models import LineFriend, OutboxMessage, WebhookEvent
from line_messaging.services.linking import link_direct

LINE_USER = "U" + "b" * 32


@pytest.fixture
def member(settings, make_member, store, pos):
    settings.LINE_LINK_BONUS_POINTS = 0
    member = make_member(
        card_number="30000001",
        name="佐藤 由美",
        name_kana="サトウ ユミ",
        phone="090-1234-5678",
        email="yumi@example.com",
        points=500,
    )
    LineFriend.objects.create(user_id=LINE_USER, display_name="ゆみ🌸")
    link_direct(line_user_id=LINE_USER, member=member)
    WebhookEvent.objects.create(
        webhook_event_id="01TESTFOLLOW", event_type="follow", line_user_id=LINE_USER,
        timestamp=1, payload={},
    )  # fmt: skip
    response = pos.purchase(
        receipt_number="M-1",
        card=member.card_number,
        total=2_000,
        items=[{"sku": "1", "name": "ハンドクリーム", "quantity": 2, "unit_price": 1_000}],
    )
    assert response.status_code == 201
    member.refresh_from_db()
    return member


URLS = ["/hq/members/", "/hq/members/30000001/"]


@pytest.mark.parametrize("path", URLS)
def test_anonymous_goes_to_admin_login(member, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("path", URLS)
@pytest.mark.parametrize("role", ["no_role", HqRole.STORE_MANAGER, HqRole.STORE_STAFF])
def test_store_roles_and_no_role_are_refused(client_for, store, member, role, path):
    assert client_for(role, store=store).get(path).status_code == 403


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("card", "3000-0001"),
        ("phone", "09012345678"),
        ("phone", "090-1234-5678"),
        ("kana", "さとう"),
        ("kana", "サトウ ユ"),
        ("line", "ゆみ"),
    ],
)
def test_admin_finds_the_member_by_each_field(client_for, member, field, text):
    response = client_for(HqRole.HQ_ADMIN).get("/hq/members/", {"field": field, "q": text})
    assert response.status_code == 200
    assert [m.card_number for m, _profile, _friend in response.context["rows"]] == ["30000001"]


def test_search_without_match_finds_nobody(client_for, member):
    response = client_for(HqRole.HQ_ADMIN).get("/hq/members/", {"field": "kana", "q": "タナカ"})
    assert response.context["rows"] == []


def test_analyst_searches_by_card_number_only_and_sees_masked_data(client_for, member):
    analyst = client_for(HqRole.HQ_ANALYST)
    assert analyst.get("/hq/members/", {"field": "phone", "q": "09012345678"}).status_code == 400
    body = analyst.get("/hq/members/", {"field": "card", "q": "30000001"}).content.decode()
    assert "佐藤 *" in body and "佐藤 由美" not in body and "***-****-**78" in body


def test_360_page_shows_profile_points_link_purchases_ledger_messages(client_for, member):
    response = client_for(HqRole.HQ_ADMIN).get("/hq/members/30000001/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "佐藤 由美" in body and "yumi@example.com" in body and "1990-04-01" in body
    assert 'data-balance="520"' in body  # 500 granted + 20 earned on 2,000 yen
    assert "ゆみ🌸" in body and "LIFF会員証" in body
    assert "ハンドクリーム ×2" in body
    assert "M-1" in body
    line = response.context["line"]
    assert line.friend.user_id == LINE_USER
    assert [e.event_type for e in line.follow_events] == ["follow"]
    assert line.messages and {m.message.line_user_id for m in line.messages} == {LINE_USER}
    assert OutboxMessage.objects.filter(line_user_id=LINE_USER).count() == len(line.messages)
    assert 'id="adjust"' in body and 'id="withdraw"' in body


def test_analyst_360_page_is_masked_and_offers_no_actions(client_for, member):
    body = client_for(HqRole.HQ_ANALYST).get("/hq/members/30000001/").content.decode()
    for secret in ("佐藤 由美", "サトウ ユミ", "090-1234-5678", "yumi@example.com", "1990-04-01",
                   "ゆみ🌸"):  # fmt: skip
        assert secret not in body
    assert "1990年" in body and "y***@example.com" in body
    assert 'id="adjust"' not in body and 'id="withdraw"' not in body


@pytest.mark.parametrize("action", ["adjust", "withdraw"])
def test_analyst_cannot_post_actions(client_for, member, action):
    response = client_for(HqRole.HQ_ANALYST).post(
        f"/hq/members/30000001/{action}", {"points": 10, "reason": "x", "password": "x"}
    )
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.points_balance == 520 and member.status == "active"


def test_unknown_card_is_404(client_for, member):
    assert client_for(HqRole.HQ_ADMIN).get("/hq/members/99999999/").status_code == 404


def test_ledger_and_purchases_page_by_cursor(client_for, member, monkeypatch):
    from hq import selectors

    monkeypatch.setattr(selectors, "PAGE_SIZE", 1)
    client = client_for(HqRole.HQ_ADMIN)
    first = client.get("/hq/members/30000001/").context["entries"]
    assert len(first.items) == 1 and first.next_before is not None
    second = client.get(f"/hq/members/30000001/?eb={first.next_before}").context["entries"]
    assert second.items[0].pk < first.items[0].pk
