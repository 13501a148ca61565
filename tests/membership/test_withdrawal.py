"""Member withdrawal (退会): balance forfeited through the ledger, personal data erased, LINE
unlinked with the rich menu reset, audit entry written, idempotent; the card stops working."""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client

from audit.models import AuditAction, AuditEntry
from liff.selectors import member_for_line_user
from line_messaging.models import LineFriend, LinkAction, LinkEvent, OutboxKind, OutboxMessage
from line_messaging.services.linking import link_direct
from membership.models import EntryKind, Member, MemberStatus, PointEntry, PointLot
from membership.selectors import ledger_problems
from membership.services.card_codes import card_code_issue
from membership.services.withdrawal import member_withdraw
from pos_bridge.models import Purchase
from tests.conftest import grant_points
from tests.line_messaging.conftest import deployed, line  # noqa: F401 - fixtures

LINE_USER = "U" + "c" * 32
PASSWORD = "withdraw-password-123"


@pytest.fixture
def hq_admin(db):
    user = get_user_model().objects.create_user(username="boss", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="hq_admin")[0])
    return user


@pytest.fixture
def member(settings, make_member, pos):
    """A linked member with a purchase, an earned lot, a bonus lot and an expired lot."""
    settings.LINE_LINK_BONUS_POINTS = 200
    member = make_member(
        card_number="50000001",
        name="鈴木 一郎",
        name_kana="スズキ イチロウ",
        birth_date=datetime.date(1985, 7, 19),
        phone="080-1111-2222",
        email="ichiro@example.com",
        prefecture="東京都",
        gender="male",
    )
    LineFriend.objects.create(user_id=LINE_USER, display_name="いちろう")
    link_direct(line_user_id=LINE_USER, member=member)  # +200 bonus
    assert pos.purchase(card=member.card_number, total=3_000).status_code == 201  # +30
    grant_points(member, 70, expires_on=datetime.date(2020, 1, 1))  # already past its date
    member.refresh_from_db()
    assert member.points_balance == 300
    return member


def test_withdrawal_forfeits_erases_unlinks_and_audits(member, hq_admin):
    outcome = member_withdraw(member=member, actor=hq_admin, reason="本人の申し出")
    assert outcome.withdrawn and outcome.line_unlinked
    assert outcome.points_forfeited == 230  # the 70 past their date expire, not forfeit
    member.refresh_from_db()
    assert member.status == MemberStatus.WITHDRAWN and member.withdrawn_at is not None
    assert member.points_balance == 0
    assert (member.name, member.name_kana, member.phone, member.email) == ("", "", "", "")
    assert member.birth_date == datetime.date(1985, 1, 1)
    assert (member.card_number, member.prefecture, member.gender) == ("50000001", "東京都", "male")
    forfeit = PointEntry.objects.get(member=member, kind=EntryKind.FORFEIT)
    assert forfeit.delta == -230 and forfeit.balance_after == 0 and forfeit.actor == "user:boss"
    assert PointEntry.objects.filter(member=member, kind=EntryKind.EXPIRE).get().delta == -70
    assert not PointLot.objects.filter(member=member, remaining__gt=0).exists()
    assert list(ledger_problems()) == []
    call_command("check_ledger", stdout=io.StringIO())
    # Purchases stay for statistics, on the anonymised member.
    assert Purchase.objects.get(member=member).total == 3_000
    # LINE: unlinked, unlink event, rich menu back to the unlinked one, LIFF sees no card.
    assert LineFriend.objects.get(user_id=LINE_USER).member_id is None
    assert LinkEvent.objects.filter(member=member, action=LinkAction.UNLINKED).count() == 1
    last_menu_change = OutboxMessage.objects.filter(
        line_user_id=LINE_USER, kind__in=[OutboxKind.RICHMENU_LINK, OutboxKind.RICHMENU_UNLINK]
    ).latest("id")
    assert last_menu_change.kind == OutboxKind.RICHMENU_UNLINK
    assert member_for_line_user(line_user_id=LINE_USER) is None
    audit = AuditEntry.objects.get(action=AuditAction.MEMBER_WITHDRAW)
    assert audit.actor_username == "boss" and audit.reason == "本人の申し出"
    assert audit.before["points_balance"] == 300 and audit.after["points_forfeited"] == 230
    assert "鈴木" not in audit.target_repr and "鈴木" not in str(audit.before)


def test_withdrawing_twice_changes_nothing_the_second_time(member, hq_admin):
    member_withdraw(member=member, actor=hq_admin, reason="本人の申し出")
    counts = (PointEntry.objects.count(), AuditEntry.objects.count(), OutboxMessage.objects.count())
    again = member_withdraw(member=member, actor=hq_admin, reason="もう一度")
    assert not again.withdrawn and again.points_forfeited == 0
    assert counts == (
        PointEntry.objects.count(),
        AuditEntry.objects.count(),
        OutboxMessage.objects.count(),
    )


def test_withdrawn_card_can_neither_earn_nor_redeem_at_the_pos(member, hq_admin, pos):
    code = card_code_issue(member=member).code  # shown on the phone just before
    member_withdraw(member=member, actor=hq_admin, reason="本人の申し出")
    by_number = pos.purchase(card=member.card_number, total=1_000)
    assert by_number.status_code == 409 and by_number.json()["code"] == "member_inactive"
    by_code = pos.purchase(card=code, total=1_000, points_to_redeem=10)
    assert by_code.status_code == 409
    assert by_code.json()["code"] in ("member_inactive", "card_code_used")
    resolve = pos.post("/cards/resolve", {"card": member.card_number})
    assert resolve.json()["code"] == "member_inactive"


def test_withdrawal_of_unlinked_member_without_points(make_member, hq_admin):
    member = make_member(card_number="50000002", name="高橋 二郎")
    outcome = member_withdraw(member=member, actor=hq_admin, reason="重複登録")
    assert outcome.withdrawn and outcome.points_forfeited == 0 and not outcome.line_unlinked
    assert not PointEntry.objects.filter(member=member).exists()
    assert Member.objects.get(pk=member.pk).name == ""


def test_withdraw_member_command(member):
    out = io.StringIO()
    call_command("withdraw_member", "5000-0001", "--reason", "書面で申し出", stdout=out)
    assert "230 points forfeited" in out.getvalue()
    assert AuditEntry.objects.get(action=AuditAction.MEMBER_WITHDRAW).actor_username == "(system)"
    out = io.StringIO()
    call_command("withdraw_member", "50000001", "--reason", "again", stdout=out)
    assert "already withdrawn" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("withdraw_member", "99999999", "--reason", "x")


def _withdraw_form(client: Client, **fields):
    page = client.get("/hq/members/50000001/")
    data = {
        "csrfmiddlewaretoken": page.context["csrf_token"],
        "confirm_card_number": "50000001",
        "reason": "本人の申し出(電話)",
        "password": PASSWORD,
    }
    data.update(fields)
    return data


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"password": "wrong"}, 403),
        ({"confirm_card_number": "50000002"}, 422),
        ({"reason": ""}, 422),
    ],
)
def test_hq_withdrawal_refused_writes_nothing(member, hq_admin, fields, status):
    client = Client(enforce_csrf_checks=True)
    client.force_login(hq_admin)
    response = client.post("/hq/members/50000001/withdraw", _withdraw_form(client, **fields))
    assert response.status_code == status
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE and member.name == "鈴木 一郎"
    assert not AuditEntry.objects.filter(action=AuditAction.MEMBER_WITHDRAW).exists()


def test_hq_withdrawal_through_the_member_page(member, hq_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(hq_admin)
    response = client.post("/hq/members/50000001/withdraw", _withdraw_form(client))
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == MemberStatus.WITHDRAWN
    page = client.get("/hq/members/50000001/").content.decode()
    assert "退会済み" in page and "鈴木" not in page and 'id="withdraw"' not in page
    call_command("check_ledger", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_rich_menu_is_reset_on_the_line_sandbox(line, deployed, make_member, settings):  # noqa: F811
    from line_messaging.services.outbox import outbox_drain
    from line_sandbox import selectors as sandbox_selectors
    from line_sandbox import services as sandbox

    settings.LINE_LINK_BONUS_POINTS = 0
    user = sandbox.user_create("退会 予定")
    sandbox.user_follow(user)
    outbox_drain()
    member = make_member(card_number="50000009", name="退会 予定", points=40)
    link_direct(line_user_id=user.user_id, member=member)
    outbox_drain()

    def shown() -> str | None:
        menu = sandbox_selectors.user_rich_menu_shown(sandbox.user_get(user))
        return menu.rich_menu_id if menu else None

    assert shown() == deployed["linked"]
    member_withdraw(member=member, actor=None, reason="本人の申し出")
    outbox_drain()
    assert shown() == deployed["unlinked"]
    assert list(ledger_problems()) == []


def test_withdrawal_erases_texts_already_sent_and_says_goodbye(member, hq_admin):
    from line_messaging.services.outbox import outbox_message

    outbox_message(
        line_user_id=LINE_USER,
        messages=[{"type": "text", "text": "鈴木 一郎 様、ご購入ありがとうございます"}],
        purpose="receipt",
    )
    OutboxMessage.objects.filter(line_user_id=LINE_USER).update(state="sent")

    member_withdraw(member=member, actor=hq_admin, reason="本人の申し出")

    texts = [
        m["text"]
        for row in OutboxMessage.objects.filter(line_user_id=LINE_USER)
        for m in row.payload.get("messages", [])
    ]
    assert not any("鈴木" in text for text in texts)
    assert any("退会手続きが完了" in text for text in texts)
    assert not any("そのまま残っています" in text for text in texts)


def test_refund_after_withdrawal_gives_no_points_back_and_keeps_the_ledger_clean(
    make_member, hq_admin, pos
):
    shopper = make_member(card_number="50000002", points=500)
    code = card_code_issue(member=shopper).code
    sale = pos.purchase(card=code, total=2_000, points_to_redeem=300)
    assert sale.status_code == 201
    member_withdraw(member=shopper, actor=hq_admin, reason="本人の申し出")
    entries = PointEntry.objects.filter(member=shopper).count()

    refund = pos.refund(sale.json()["purchase_id"], amount=2_000)

    assert refund.status_code == 201, refund.json()
    body = refund.json()
    assert (body["points_restored"], body["points_reversed"], body["points_balance"]) == (0, 0, 0)
    assert PointEntry.objects.filter(member=shopper).count() == entries
    assert list(ledger_problems()) == []
