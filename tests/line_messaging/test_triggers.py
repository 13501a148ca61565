"""Triggered messages: receipts, tier-ups and expiry reminders go through the outbox in the
transaction of their cause, once, to linked friends who have not blocked the account."""

import datetime
import secrets

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from line_messaging.models import (
    ExpiryReminder,
    LineFriend,
    OutboxMessage,
    Trigger,
    TriggeredMessage,
)
from line_messaging.services.triggers import TemplateInvalid, template_check, template_render
from membership.models import Member
from tests.conftest import PosClient, grant_points


def _link(member: Member, *, blocked: bool = False) -> LineFriend:
    return LineFriend.objects.create(
        user_id="U" + secrets.token_hex(16), member=member, is_blocked=blocked
    )


def _texts(purpose: str) -> list[str]:
    return [
        m["text"]
        for row in OutboxMessage.objects.filter(purpose=purpose).order_by("id")
        for m in row.payload["messages"]
    ]


# --- templates -----------------------------------------------------------------------------


def test_template_renders_the_trigger_placeholders():
    body = template_render(
        trigger=Trigger.PURCHASE_RECEIPT,
        template="{name}様 {store} {total}円 +{points_earned} -{points_redeemed} 残高{balance}",
        values={
            "name": "山田",
            "store": "渋谷店",
            "total": "1,200",
            "points_earned": "12",
            "points_redeemed": "0",
            "balance": "312",
        },
    )

    assert body == "山田様 渋谷店 1,200円 +12 -0 残高312"


@pytest.mark.parametrize(
    "template",
    ["{nama}様", "{tier}", "{total:,}", "{name.upper}", "{name!r}", "{}", "{0}", "{name", "  "],
)
def test_template_with_an_unknown_or_unsafe_placeholder_is_refused(template):
    with pytest.raises(TemplateInvalid):
        template_check(trigger=Trigger.PURCHASE_RECEIPT, template=template)


def test_literal_braces_are_allowed_when_doubled():
    template_check(trigger=Trigger.TIER_UP, template="{{お知らせ}} {name}様")


def test_the_migration_creates_every_trigger_with_a_valid_japanese_text(db):
    rows = {row.trigger: row for row in TriggeredMessage.objects.all()}

    assert set(rows) == set(Trigger.values)
    for row in rows.values():
        row.full_clean()
        assert row.enabled and "様" in row.template


# --- purchase receipt ------------------------------------------------------------------------


def test_receipt_is_queued_once_for_a_linked_members_purchase(make_member, pos: PosClient):
    member = make_member(points=100)
    friend = _link(member)

    response = pos.purchase(total=1_000, card=member.card_number)

    assert response.status_code == 201
    rows = list(OutboxMessage.objects.filter(purpose="receipt"))
    assert len(rows) == 1 and rows[0].line_user_id == friend.user_id
    [body] = _texts("receipt")
    assert "渋谷店" in body and "1,000円" in body
    member.refresh_from_db()
    assert f"{member.points_balance:,}ポイント" in body


def test_an_idempotent_replay_sends_no_second_receipt(make_member, pos: PosClient):
    member = make_member()
    _link(member)
    body = {
        "receipt_number": "R-1",
        "total": 1_000,
        "card": member.card_number,
        "occurred_at": timezone.now().isoformat(),
    }

    first = pos.purchase(key="same-key", **body)
    replay = pos.purchase(key="same-key", **body)

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert OutboxMessage.objects.filter(purpose="receipt").count() == 1


@pytest.mark.parametrize("case", ["unlinked", "blocked", "disabled", "no_member"])
def test_no_receipt_for_unlinked_blocked_or_disabled(case, make_member, pos: PosClient):
    member = make_member()
    if case == "blocked":
        _link(member, blocked=True)
    elif case == "disabled":
        _link(member)
        TriggeredMessage.objects.filter(trigger=Trigger.PURCHASE_RECEIPT).update(enabled=False)

    card = None if case == "no_member" else member.card_number
    assert pos.purchase(total=1_000, card=card).status_code == 201

    assert not OutboxMessage.objects.filter(purpose="receipt").exists()


def test_a_purchase_that_rolls_back_sends_no_receipt(make_member, terminal, monkeypatch):
    from pos_bridge.models import Purchase
    from pos_bridge.services import purchases

    member = make_member()
    _link(member)

    def fail(member):
        raise RuntimeError("database went away")

    monkeypatch.setattr(purchases, "_tier_refresh", fail)  # runs after the receipt is queued
    with pytest.raises(RuntimeError):
        purchases.purchase_record(
            terminal=terminal.terminal,
            receipt_number="R-rollback",
            occurred_at=timezone.now(),
            total=1_000,
            card=member.card_number,
        )

    assert not Purchase.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_opting_out_of_marketing_does_not_stop_receipts(make_member, pos: PosClient):
    member = make_member()
    friend = _link(member)
    LineFriend.objects.filter(pk=friend.pk).update(marketing_opt_in=False)

    pos.purchase(total=1_000, card=member.card_number)

    assert OutboxMessage.objects.filter(purpose="receipt").count() == 1


# --- tier up --------------------------------------------------------------------------------


def test_tier_up_message_after_a_purchase_reaches_a_higher_tier(make_member, tiers, pos):
    member = make_member()
    _link(member)

    pos.purchase(total=1_000, card=member.card_number)  # regular: the entry tier
    assert not OutboxMessage.objects.filter(purpose="tier_up").exists()

    pos.purchase(total=60_000, card=member.card_number)  # silver

    [body] = _texts("tier_up")
    assert "シルバー" in body
    assert OutboxMessage.objects.filter(purpose="receipt").count() == 2


def test_no_tier_up_message_when_a_refund_lowers_the_tier(make_member, tiers, pos):
    member = make_member()
    _link(member)
    purchase_id = pos.purchase(total=60_000, card=member.card_number).json()["purchase_id"]

    assert pos.refund(purchase_id, amount=60_000).status_code == 201

    assert OutboxMessage.objects.filter(purpose="tier_up").count() == 1
    member.refresh_from_db()
    assert member.tier == tiers["regular"]


# --- expiry reminders -----------------------------------------------------------------------


def test_expiry_reminder_is_sent_once_across_two_runs(make_member):
    today = timezone.localdate()
    member = make_member()
    friend = _link(member)
    grant_points(member, 120, expires_on=today + datetime.timedelta(days=10))
    grant_points(member, 30, expires_on=today + datetime.timedelta(days=10))
    grant_points(member, 500, expires_on=today + datetime.timedelta(days=200))  # not yet

    call_command("send_expiry_reminders")
    call_command("send_expiry_reminders")

    rows = list(OutboxMessage.objects.filter(purpose="points_expiring"))
    assert len(rows) == 1 and rows[0].line_user_id == friend.user_id
    [body] = _texts("points_expiring")
    expires_on = today + datetime.timedelta(days=10)
    assert "150ポイント" in body
    assert f"{expires_on.year}年{expires_on.month}月{expires_on.day}日" in body
    assert ExpiryReminder.objects.filter(member=member).count() == 1


def test_expiry_reminders_honour_days_before_and_skip_blocked_or_unlinked(make_member):
    today = timezone.localdate()
    TriggeredMessage.objects.filter(trigger=Trigger.POINTS_EXPIRING).update(days_before=7)
    soon, later, blocked, unlinked = (make_member() for _ in range(4))
    for member in (soon, later, blocked, unlinked):
        days = 20 if member is later else 5
        grant_points(member, 100, expires_on=today + datetime.timedelta(days=days))
    _link(soon)
    _link(later)
    _link(blocked, blocked=True)

    call_command("send_expiry_reminders")

    assert list(ExpiryReminder.objects.values_list("member_id", flat=True)) == [soon.pk]
    assert OutboxMessage.objects.filter(purpose="points_expiring").count() == 1

    # Thirteen days on, the later lot is inside the window and reminded, once.
    call_command("send_expiry_reminders", "--today", str(today + datetime.timedelta(days=13)))
    call_command("send_expiry_reminders", "--today", str(today + datetime.timedelta(days=14)))
    assert OutboxMessage.objects.filter(purpose="points_expiring").count() == 2


def test_no_expiry_reminders_when_the_trigger_is_off(make_member):
    TriggeredMessage.objects.filter(trigger=Trigger.POINTS_EXPIRING).update(enabled=False)
    member = make_member()
    _link(member)
    grant_points(member, 100, expires_on=timezone.localdate() + datetime.timedelta(days=3))

    call_command("send_expiry_reminders")

    assert not OutboxMessage.objects.exists()


# --- admin ----------------------------------------------------------------------------------


@pytest.fixture
def hq(db) -> Client:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("hq", "hq@example.jp", "pw-for-tests-1")
    client = Client()
    client.force_login(user)
    return client


def _admin_edit(hq: Client, trigger: str, **changes):
    row = TriggeredMessage.objects.get(trigger=trigger)
    data = {"enabled": "on", "template": row.template, "days_before": row.days_before}
    data.update(changes)
    return hq.post(f"/admin/line_messaging/triggeredmessage/{row.pk}/change/", data)


def test_admin_edit_refuses_an_unknown_placeholder(hq):
    response = _admin_edit(hq, Trigger.PURCHASE_RECEIPT, template="{name}様 {nama}")

    assert response.status_code == 200
    assert "差し込み項目 {nama} は使えません" in response.content.decode()
    assert "{nama}" not in TriggeredMessage.objects.get(trigger=Trigger.PURCHASE_RECEIPT).template


def test_admin_edit_saves_a_valid_template_and_the_switch(hq, make_member, pos):
    response = _admin_edit(
        hq, Trigger.PURCHASE_RECEIPT, template="ありがとうございました {total}円"
    )
    assert response.status_code == 302
    member = make_member()
    _link(member)

    pos.purchase(total=2_500, card=member.card_number)

    assert _texts("receipt") == ["ありがとうございました 2,500円"]
    data = {"template": "{name}", "days_before": 30}  # "enabled" unchecked
    row = TriggeredMessage.objects.get(trigger=Trigger.TIER_UP)
    assert (
        hq.post(f"/admin/line_messaging/triggeredmessage/{row.pk}/change/", data).status_code == 302
    )
    assert not TriggeredMessage.objects.get(trigger=Trigger.TIER_UP).enabled
