"""Webhooks the sandbox sends: complete, signed, parsed by the real SDK into the right classes."""

import base64
import hashlib
import hmac
import json
import re

import pytest
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhooks import (
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
)

from line_sandbox import services
from line_sandbox.identifiers import bot_user_id
from line_sandbox.models import SandboxWebhookEvent
from tests.line_sandbox.conftest import CHANNEL_SECRET

ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def parse(received):
    return WebhookParser(CHANNEL_SECRET).parse(received.text, received.signature, as_payload=True)


def test_user_ids_look_like_line_user_ids(sandbox):
    user = services.user_create("新規")

    assert re.fullmatch(r"U[0-9a-f]{32}", user.user_id)


def test_follow_is_signed_complete_and_parsed_as_follow_event(sandbox):
    user = services.user_create("山田 花子")

    status = services.user_follow(user)

    received = sandbox.receiver.last
    payload = parse(received)
    [event] = payload.events
    assert status == 200
    assert (
        received.signature
        == base64.b64encode(
            hmac.new(CHANNEL_SECRET.encode(), received.body, hashlib.sha256).digest()
        ).decode()
    )
    assert received.user_agent == "LineBotWebhook/2.0"
    assert payload.destination == bot_user_id()
    assert re.fullmatch(r"U[0-9a-f]{32}", payload.destination)
    assert isinstance(event, FollowEvent)
    assert event.source.user_id == user.user_id
    assert event.mode == "active"
    assert ULID_RE.match(event.webhook_event_id)
    assert event.delivery_context.is_redelivery is False
    assert event.follow.is_unblocked is False
    assert event.reply_token
    assert abs(event.timestamp - received.event["timestamp"]) == 0


def test_unblocking_sends_follow_with_is_unblocked(sandbox, friend):
    services.user_unfollow(friend)
    services.user_follow(friend)

    events = [parse(r).events[0] for r in sandbox.receiver.received[-2:]]

    assert isinstance(events[0], UnfollowEvent)
    assert "replyToken" not in sandbox.receiver.received[-2].event
    assert isinstance(events[1], FollowEvent)
    assert events[1].follow.is_unblocked is True


def test_text_message_event_parses_as_text_message_content(sandbox, friend):
    services.user_send_text(friend, "ポイント")

    [event] = parse(sandbox.receiver.last).events

    assert isinstance(event, MessageEvent)
    assert isinstance(event.message, TextMessageContent)
    assert event.message.text == "ポイント"
    assert event.message.id.isdigit()
    assert event.message.quote_token
    assert event.reply_token


def test_postback_event_carries_data_and_params(sandbox, friend):
    services.user_postback(friend, "action=link", {"date": "2025-01-01"})

    [event] = parse(sandbox.receiver.last).events

    assert isinstance(event, PostbackEvent)
    assert event.postback.data == "action=link"
    assert event.postback.params == {"date": "2025-01-01"}
    assert event.reply_token


def test_every_event_has_a_unique_webhook_event_id(sandbox, friend):
    for word in ("a", "b", "c"):
        services.user_send_text(friend, word)

    ids = [r.event["webhookEventId"] for r in sandbox.receiver.received]

    assert len(ids) == len(set(ids)) == 4


def test_redelivery_keeps_the_event_id_and_marks_it(sandbox, friend):
    services.user_send_text(friend, "会員証")
    original = sandbox.receiver.last.event

    status = services.event_redeliver(original["webhookEventId"])

    again = sandbox.receiver.last
    [event] = parse(again).events
    assert status == 200
    assert event.webhook_event_id == original["webhookEventId"]
    assert event.delivery_context.is_redelivery is True
    assert again.event["timestamp"] == original["timestamp"]
    row = SandboxWebhookEvent.objects.get(webhook_event_id=original["webhookEventId"])
    assert row.delivery_count == 2


def test_receiver_status_is_recorded_and_returned(sandbox, friend):
    sandbox.receiver.answer_status = 500

    status = services.user_send_text(friend, "x")

    assert status == 500
    assert SandboxWebhookEvent.objects.latest("id").response_status == 500


def test_unreachable_receiver_answers_status_0(sandbox, friend, settings):
    settings.LINE_SANDBOX_WEBHOOK_URL = "http://127.0.0.1:9/line/webhook"

    assert services.user_send_text(friend, "x") == 0


def test_signature_made_with_another_secret_is_rejected_by_the_sdk(sandbox, friend):
    services.user_send_text(friend, "x")

    with pytest.raises(InvalidSignatureError):
        WebhookParser("another-secret").parse(
            sandbox.receiver.last.text, sandbox.receiver.last.signature
        )


def test_blocked_users_cannot_send_messages(sandbox, friend):
    services.user_unfollow(friend)

    with pytest.raises(services.SandboxStateError):
        services.user_send_text(friend, "x")


def test_rich_menu_switch_sends_postback_with_switch_params(sandbox, friend):
    services.user_rich_menu_switch(friend, "no-such-alias", "tab=2")

    [event] = parse(sandbox.receiver.last).events

    assert isinstance(event, PostbackEvent)
    assert event.postback.data == "tab=2"
    assert event.postback.params == {"status": "RICHMENU_ALIAS_ID_NOTFOUND"}


def test_webhook_body_is_compact_utf8_json(sandbox, friend):
    services.user_send_text(friend, "こんにちは")

    body = sandbox.receiver.last.body

    assert "こんにちは".encode() in body
    assert json.loads(body)["events"][0]["message"]["text"] == "こんにちは"
