"""The account link dialog: link token in, signed accountLink webhook out."""

import time
from urllib.parse import urlencode

import httpx
import pytest
import time_machine
from linebot.v3 import WebhookParser
from linebot.v3.messaging import ReplyMessageRequest, TextMessage
from linebot.v3.webhooks import AccountLinkEvent

from line_sandbox import selectors
from line_sandbox.models import SandboxLinkToken
from tests.line_sandbox.conftest import CHANNEL_SECRET

NONCE = "bm9uY2UtMTI4LWJpdHMtb2YtcmFuZG9t"


def open_dialog(sandbox, link_token: str, nonce: str = NONCE) -> httpx.Response:
    query = urlencode({"linkToken": link_token, "nonce": nonce})
    return httpx.get(f"{sandbox.access_url}/dialog/bot/accountLink?{query}")


def last_event(sandbox) -> AccountLinkEvent:
    received = sandbox.receiver.last
    [event] = WebhookParser(CHANNEL_SECRET).parse(received.text, received.signature)
    assert isinstance(event, AccountLinkEvent)
    return event


def test_valid_link_token_sends_ok_with_nonce_and_reply_token(sandbox, friend):
    link_token = sandbox.messaging_api().issue_link_token(friend.user_id).link_token

    page = open_dialog(sandbox, link_token)

    event = last_event(sandbox)
    assert page.status_code == 200
    assert "連携しました" in page.text
    assert f"?user={friend.user_id}" in page.text
    assert event.link.result == "ok"
    assert event.link.nonce == NONCE
    assert event.source.user_id == friend.user_id
    assert event.reply_token
    sandbox.messaging_api().reply_message(
        ReplyMessageRequest(reply_token=event.reply_token, messages=[TextMessage(text="ようこそ")])
    )
    assert selectors.messages_received(friend) == [{"type": "text", "text": "ようこそ"}]


def test_reused_link_token_fails_without_reply_token_or_source(sandbox, friend):
    link_token = sandbox.messaging_api().issue_link_token(friend.user_id).link_token
    open_dialog(sandbox, link_token)

    page = open_dialog(sandbox, link_token, nonce="another-nonce-value")

    event = last_event(sandbox)
    raw = sandbox.receiver.last.event
    assert "連携に失敗しました" in page.text
    assert event.link.result == "failed"
    assert event.link.nonce == "another-nonce-value"
    assert "replyToken" not in raw
    assert "source" not in raw


def test_expired_link_token_fails(sandbox, friend):
    link_token = sandbox.messaging_api().issue_link_token(friend.user_id).link_token

    with time_machine.travel(time.time() + 10 * 60 + 1):
        page = open_dialog(sandbox, link_token)

    assert "連携に失敗しました" in page.text
    assert last_event(sandbox).link.result == "failed"
    assert SandboxLinkToken.objects.get(token=link_token).used_at is None


def test_unknown_link_token_fails(sandbox):
    page = open_dialog(sandbox, "NoSuchTokenNoSuchTokenNoSuchToke")

    assert page.status_code == 200
    assert last_event(sandbox).link.result == "failed"


@pytest.mark.parametrize("nonce", ["short", "n" * 256, ""])
def test_bad_nonce_is_refused_before_the_token_is_used(sandbox, friend, nonce):
    link_token = sandbox.messaging_api().issue_link_token(friend.user_id).link_token
    webhooks_before = len(sandbox.receiver.received)

    page = open_dialog(sandbox, link_token, nonce=nonce)

    assert page.status_code == 400
    assert len(sandbox.receiver.received) == webhooks_before
    assert SandboxLinkToken.objects.get(token=link_token).used_at is None
    assert open_dialog(sandbox, link_token).status_code == 200
    assert last_event(sandbox).link.result == "ok"
