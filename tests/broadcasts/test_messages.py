"""Triggered messages edited in /hq/messages/ and step messages N days after a first
purchase, sent once by run_message_jobs to linked, unblocked, opted-in friends."""

import datetime
import uuid

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from broadcasts.models import StepMessage, StepMessageDelivery
from broadcasts.services.steps import step_save
from line_messaging.models import LineFriend, OutboxMessage, Trigger, TriggeredMessage
from membership.models import Member
from pos_bridge.models import Purchase
from tests.broadcasts.conftest import bulk_members, link_friends

DAY0 = datetime.date(2026, 5, 1)


def _at(day: datetime.date, hour: int = 12) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def _buy(member: Member, terminal, day: datetime.date, *, total=1000, refunded=0) -> Purchase:
    return Purchase.objects.create(
        store=terminal.terminal.store,
        terminal=terminal.terminal,
        receipt_number=uuid.uuid4().hex[:12],
        occurred_at=_at(day, 10),
        total=total,
        refunded_amount=refunded,
        member=member,
    )


def _run_on(day: datetime.date) -> None:
    with time_machine.travel(_at(day, 9), tick=False):
        call_command("run_message_jobs", "--once")


def _step_pushes() -> list[tuple[str, str]]:
    return [
        (row.line_user_id, row.payload["messages"][0]["text"])
        for row in OutboxMessage.objects.filter(purpose="step").order_by("id")
    ]


@pytest.fixture
def step7(db) -> StepMessage:
    with time_machine.travel(_at(DAY0 - datetime.timedelta(days=30)), tick=False):
        return step_save(
            actor=None,
            name="1週間後のお礼",
            days_after=7,
            template="{name}様、先日はありがとうございました。残高{balance}ポイント",
            enabled=True,
        )


def test_step_message_is_sent_once_on_its_day(step7, terminal):
    (member,) = bulk_members(1)
    (friend,) = link_friends([member])
    _buy(member, terminal, DAY0)
    _buy(member, terminal, DAY0 + datetime.timedelta(days=3))

    _run_on(DAY0 + datetime.timedelta(days=6))
    assert _step_pushes() == []
    for days in (7, 7, 8, 10):
        _run_on(DAY0 + datetime.timedelta(days=days))

    assert _step_pushes() == [
        (friend.user_id, "会員様、先日はありがとうございました。残高0ポイント")
    ]
    assert StepMessageDelivery.objects.get().step == step7


def test_step_messages_skip_opted_out_blocked_unlinked_and_fully_refunded(step7, terminal):
    opted_out, blocked, unlinked, refunded, partial, fine = bulk_members(6)
    link_friends([opted_out], opted_in=False)
    link_friends([blocked], blocked=True)
    link_friends([refunded, partial, fine])
    for member in (opted_out, blocked, unlinked, partial, fine):
        _buy(member, terminal, DAY0)
    # The first purchase was returned in full: no "thank you for your first purchase".
    _buy(refunded, terminal, DAY0, total=1000, refunded=1000)
    _buy(refunded, terminal, DAY0 + datetime.timedelta(days=1))
    _buy(partial, terminal, DAY0 - datetime.timedelta(days=40), total=1000, refunded=500)

    _run_on(DAY0 + datetime.timedelta(days=7))
    _run_on(DAY0 + datetime.timedelta(days=8))

    sent_to = {uid for uid, _text in _step_pushes()}
    assert sent_to == {LineFriend.objects.get(member=fine).user_id}


def test_a_missed_day_is_caught_up_for_three_days_only(step7, terminal):
    early, late = bulk_members(2)
    link_friends([early, late])
    _buy(early, terminal, DAY0)
    _buy(late, terminal, DAY0 + datetime.timedelta(days=1))

    # The job did not run for days; on day 11 "late" is 3 days overdue, "early" 4.
    _run_on(DAY0 + datetime.timedelta(days=11))

    assert {uid for uid, _t in _step_pushes()} == {LineFriend.objects.get(member=late).user_id}


def test_a_new_step_does_not_message_customers_whose_day_passed_before_it_existed(db, terminal):
    (member,) = bulk_members(1)
    link_friends([member])
    _buy(member, terminal, DAY0)
    with time_machine.travel(_at(DAY0 + datetime.timedelta(days=9)), tick=False):
        step_save(actor=None, name="7日後", days_after=7, template="{name}様", enabled=True)

    _run_on(DAY0 + datetime.timedelta(days=9))

    assert _step_pushes() == []


def test_disabled_step_sends_nothing(step7, terminal):
    (member,) = bulk_members(1)
    link_friends([member])
    _buy(member, terminal, DAY0)
    step7.enabled = False
    step7.save()

    _run_on(DAY0 + datetime.timedelta(days=7))

    assert _step_pushes() == []


def test_hq_creates_a_step_with_audit(hq_admin):
    response = hq_admin.post(
        "/hq/messages/steps/new/",
        {"name": "3日後", "days_after": "3", "template": "{name}様 {tier}", "enabled": "on"},
    )

    assert response.status_code == 302
    step = StepMessage.objects.get()
    assert (step.days_after, step.enabled) == (3, True)
    entry = AuditEntry.objects.get(target_type="broadcasts.stepmessage")
    assert entry.action == AuditAction.CREATE and entry.actor == hq_admin.user


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": "x", "days_after": "3", "template": "{points}様"}, "template", "使えません"),
        ({"name": "x", "days_after": "3", "template": "{name"}, "template", "波かっこ"),
        ({"name": "x", "days_after": "0", "template": "x"}, "days_after", "1〜365"),
        ({"name": "x", "days_after": "abc", "template": "x"}, "days_after", "整数"),
    ],
)
def test_bad_step_input_is_refused_in_japanese_and_nothing_is_written(
    hq_admin, data, field, message
):
    response = hq_admin.post("/hq/messages/steps/new/", data)

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not StepMessage.objects.exists() and not AuditEntry.objects.exists()


def test_hq_switches_off_and_edits_a_triggered_message_with_audit(hq_admin):
    before = TriggeredMessage.objects.get(trigger=Trigger.TIER_UP)

    response = hq_admin.post("/hq/messages/tier_up/", {"template": "{name}様、{tier}になりました"})

    assert response.status_code == 302
    after = TriggeredMessage.objects.get(trigger=Trigger.TIER_UP)
    assert not after.enabled and after.template == "{name}様、{tier}になりました"
    entry = AuditEntry.objects.get(target_type="line_messaging.triggeredmessage")
    assert entry.action == AuditAction.UPDATE
    assert entry.before["template"] == before.template and entry.before["enabled"] is True
    assert entry.after["enabled"] is False


def test_expiry_reminder_days_are_editable_and_checked(hq_admin):
    ok = hq_admin.post(
        "/hq/messages/points_expiring/",
        {
            "enabled": "on",
            "template": "{name}様 {points}ポイントが{expires_on}に失効",
            "days_before": "14",
        },
    )
    bad = hq_admin.post(
        "/hq/messages/points_expiring/",
        {"enabled": "on", "template": "{store}", "days_before": "0"},
    )

    assert ok.status_code == 302 and bad.status_code == 400
    assert TriggeredMessage.objects.get(trigger=Trigger.POINTS_EXPIRING).days_before == 14
    errors = bad.context["form"].errors
    assert "使えません" in errors["template"][0] and "days_before" in errors
    assert AuditEntry.objects.count() == 1


def test_unknown_trigger_is_404(hq_admin):
    assert hq_admin.get("/hq/messages/nope/").status_code == 404


def test_run_message_jobs_also_sends_expiry_reminders(db, make_member, tiers):
    from tests.conftest import grant_points

    member = make_member()
    link_friends([member])
    grant_points(member, 100)

    expires = member.point_lots.get().expires_on
    with time_machine.travel(_at(expires - datetime.timedelta(days=5)), tick=False):
        call_command("run_message_jobs", "--once")
        call_command("run_message_jobs", "--once")

    assert OutboxMessage.objects.filter(purpose="points_expiring").count() == 1
