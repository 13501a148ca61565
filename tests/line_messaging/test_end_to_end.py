"""Through the real line-bot-sdk over real HTTP against the LINE sandbox on a live server.

The sandbox sends signed webhooks to our /line/webhook; our worker delivers the outbox back
to the sandbox with the SDK. What the shopper would see is read from the sandbox.
"""

import datetime
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from line_messaging.models import LineFriend, OutboxMessage, RichMenuDeployment
from line_messaging.services import outbox
from line_messaging.services.outbox import outbox_deliver_due, outbox_drain, outbox_message
from line_messaging.services.richmenus import richmenu_deploy, richmenu_sync
from line_sandbox import selectors as sandbox_selectors
from line_sandbox import services as sandbox
from membership.models import Member

pytestmark = pytest.mark.django_db(transaction=True)


def _texts(user) -> list[str]:
    found = []
    for message in sandbox_selectors.messages_received(user):
        if message.get("type") == "text":
            found.append(message["text"])
        elif message.get("type") == "template":
            found.append(message["template"].get("text", ""))
    return found


def _shown_menu(user) -> str | None:
    menu = sandbox_selectors.user_rich_menu_shown(sandbox.user_get(user))
    return menu.rich_menu_id if menu else None


def _link_url(user) -> str:
    for message in reversed(sandbox_selectors.messages_received(user)):
        for action in (message.get("template") or {}).get("actions", []):
            if action.get("type") == "uri" and "/line/link/" in action["uri"]:
                return action["uri"]
    raise AssertionError("no link URL was sent to the user")


def test_follow_is_answered_with_a_welcome_the_user_sees(line, deployed):
    user = sandbox.user_create("花子")

    assert sandbox.user_follow(user) == 200
    report = outbox_drain()

    assert report.sent == 1
    assert any("友だち追加ありがとうございます" in t for t in _texts(user))
    assert _shown_menu(user) == deployed["unlinked"]


def test_full_chat_linking_journey_switches_the_menu_and_awards_the_bonus_once(
    line, deployed, make_member
):
    member = make_member(birth_date=datetime.date(1988, 5, 14))
    user = sandbox.user_create("花子")
    sandbox.user_follow(user)
    outbox_drain()

    # The shopper taps 会員連携 in the unlinked rich menu.
    sandbox.user_postback(user, "action=link_start")
    outbox_drain()  # issues the link token with the SDK and sends the link page URL
    link_url = _link_url(user)
    token = parse_qs(urlparse(link_url).query)["linkToken"][0]
    page = Client().post(
        urlparse(link_url).path + "?" + urlparse(link_url).query,
        {
            "link_token": token,
            "mode": "existing",
            "existing-card_number": member.card_number,
            "existing-birth_date": "1988-05-14",
        },
    )
    assert page.status_code == 302
    nonce = parse_qs(urlparse(page["Location"]).query)["nonce"][0]
    assert page["Location"].startswith(f"{line.url}/line-sandbox/access/dialog/bot/accountLink")

    # LINE's dialog consumes the token and sends us the accountLink webhook.
    outcome = sandbox.account_link_complete(token, nonce)
    assert outcome.ok
    outbox_drain()

    assert LineFriend.objects.get(user_id=user.user_id).member_id == member.pk
    assert Member.objects.get(pk=member.pk).points_balance == 200
    assert any("会員連携が完了しました" in t for t in _texts(user))
    assert _shown_menu(user) == deployed["linked"]

    # 連携解除 with confirmation: the menu goes back, points stay.
    sandbox.user_postback(user, "action=unlink_confirm")
    sandbox.user_postback(user, "action=unlink")
    outbox_drain()
    assert _shown_menu(user) == deployed["unlinked"]
    assert Member.objects.get(pk=member.pk).points_balance == 200
    assert any("会員連携を解除しました" in t for t in _texts(user))


def test_reused_link_token_fails_at_line_and_changes_nothing(line, deployed, make_member):
    member = make_member(birth_date=datetime.date(1990, 1, 1))
    user = sandbox.user_create("太郎")
    sandbox.user_follow(user)
    sandbox.user_postback(user, "action=link_start")
    outbox_drain()
    token = parse_qs(urlparse(_link_url(user)).query)["linkToken"][0]
    page = Client().post(
        f"/line/link/?linkToken={token}",
        {
            "link_token": token,
            "mode": "existing",
            "existing-card_number": member.card_number,
            "existing-birth_date": "1990-01-01",
        },
    )
    nonce = parse_qs(urlparse(page["Location"]).query)["nonce"][0]
    sandbox.account_link_complete(token, nonce)
    sandbox.user_postback(user, "action=unlink")

    again = sandbox.account_link_complete(token, nonce)

    assert not again.ok
    assert LineFriend.objects.get(user_id=user.user_id).member_id is None


def test_redelivered_event_from_the_sandbox_is_a_no_op(line, deployed):
    user = sandbox.user_create("花子")
    sandbox.user_follow(user)
    event_id = sandbox_selectors.webhook_events_recent(user=sandbox.user_get(user))[0][
        "webhookEventId"
    ]

    assert sandbox.event_redeliver(event_id) == 200

    assert OutboxMessage.objects.filter(purpose="welcome").count() == 1


def test_push_retries_through_injected_429_and_500_and_is_delivered_once(line, deployed):
    user = sandbox.user_create("花子")
    sandbox.user_follow(user)
    outbox_drain()
    sandbox.fault_set(status=429, count=1, path_prefix="/v2/bot/message/push")
    sandbox.fault_set(status=500, count=1, path_prefix="/v2/bot/message/push")
    outbox_message(
        line_user_id=user.user_id,
        messages=[{"type": "text", "text": "ご購入ありがとう"}],
        purpose="receipt",
    )

    first = outbox_deliver_due()
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=10)):
        second = outbox_deliver_due()
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5)):
        third = outbox_deliver_due()

    assert (first.retried, second.retried, third.sent) == (1, 1, 1)
    assert _texts(user).count("ご購入ありがとう") == 1
    assert OutboxMessage.objects.get(purpose="receipt").state == "sent"


def test_a_worker_killed_after_line_accepted_a_push_does_not_send_it_twice(line, deployed):
    user = sandbox.user_create("花子")
    sandbox.user_follow(user)
    outbox_drain()
    outbox_message(
        line_user_id=user.user_id,
        messages=[{"type": "text", "text": "一度だけ"}],
        purpose="receipt",
    )

    # The worker claims the row and LINE accepts the push, then the process dies before it
    # can record the outcome.
    [claim] = outbox._claim_due(10)
    outbox._deliver(claim)

    # Another worker picks the row up once the lease has run out.
    with time_machine.travel(timezone.now() + outbox.LEASE + datetime.timedelta(seconds=1)):
        report = outbox_drain()

    assert report.sent == 1
    assert _texts(user).count("一度だけ") == 1
    row = OutboxMessage.objects.get(purpose="receipt")
    assert row.state == "sent" and row.attempts == 2


def test_a_worker_killed_before_sending_loses_nothing(line, deployed):
    user = sandbox.user_create("花子")
    sandbox.user_follow(user)
    outbox_drain()
    outbox_message(
        line_user_id=user.user_id, messages=[{"type": "text", "text": "届く"}], purpose="receipt"
    )

    outbox._claim_due(10)  # claimed, then the worker dies

    assert outbox_deliver_due().handled == 0  # still leased to the dead worker
    with time_machine.travel(timezone.now() + outbox.LEASE + datetime.timedelta(seconds=1)):
        outbox_drain()
    assert _texts(user).count("届く") == 1


def test_messages_to_a_user_who_blocked_the_account_are_skipped(line, deployed):
    user = sandbox.user_create("花子")
    sandbox.user_follow(user)
    outbox_drain()
    sandbox.user_unfollow(user)
    outbox_message(
        line_user_id=user.user_id,
        messages=[{"type": "text", "text": "届かない"}],
        purpose="receipt",
    )

    report = outbox_drain()

    assert report.skipped == 1
    assert OutboxMessage.objects.get(purpose="receipt").state == "skipped"


def test_richmenu_deploy_is_idempotent(line, deployed):
    again = richmenu_deploy()

    assert again.created == [] and sorted(again.kept) == ["linked", "unlinked"]
    assert {d.name: d.rich_menu_id for d in RichMenuDeployment.objects.all()} == deployed


def test_richmenu_sync_over_2000_friends_makes_at_most_4_bulk_calls_per_menu(
    line, deployed, make_member
):
    members = [make_member() for _ in range(2000)]
    LineFriend.objects.bulk_create(
        [LineFriend(user_id=f"U{i:032x}", member=members[i]) for i in range(2000)]
        + [LineFriend(user_id=f"U{i + 5000:032x}") for i in range(2000)]
    )
    sandbox.fault_set(status=429, count=1, path_prefix="/v2/bot/richmenu/bulk/link")
    before_link = sandbox_selectors.api_calls(
        path="/v2/bot/richmenu/bulk/link", method="POST"
    ).count()
    before_unlink = sandbox_selectors.api_calls(
        path="/v2/bot/richmenu/bulk/unlink", method="POST"
    ).count()

    result = richmenu_sync()

    assert (result.linked_users, result.unlinked_users, result.bulk_calls) == (2000, 2000, 8)
    link_calls = sandbox_selectors.api_calls(path="/v2/bot/richmenu/bulk/link", method="POST")
    unlink_calls = sandbox_selectors.api_calls(path="/v2/bot/richmenu/bulk/unlink", method="POST")
    # 4 accepted link calls (plus the one refused with 429 and retried), 4 unlink calls.
    assert link_calls.filter(status=202).count() - before_link <= 4
    assert link_calls.count() - before_link == 5
    assert unlink_calls.count() - before_unlink == 4
