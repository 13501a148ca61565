"""LINE webhooks: verify, record each event once, handle it.

The signature is checked over the raw body before anything is parsed. Each event is stored
under its ``webhookEventId`` (unique), so a redelivery is a no-op. Handling writes only to
our database (LINE calls go through the outbox), which keeps the answer to LINE fast.
Events arrive in any order; follow/unfollow compare LINE's ``timestamp``.
"""

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import ApplicationError
from line_messaging import messages
from line_messaging.models import LineFriend, WebhookEvent
from line_messaging.services.linking import link_complete, link_remove
from line_messaging.services.outbox import (
    outbox_link_token_reply,
    outbox_message,
    outbox_richmenu_for_link_state,
)

logger = logging.getLogger(__name__)


class WebhookSignatureInvalid(ApplicationError):
    code = "signature_invalid"
    status = 401
    default_message = "X-Line-Signature is missing or does not match the body."


class WebhookBodyInvalid(ApplicationError):
    code = "webhook_body_invalid"
    status = 400
    default_message = "The webhook body is not a LINE webhook."


def signature_valid(*, body: bytes, signature: str | None) -> bool:
    if not signature or not settings.LINE_CHANNEL_SECRET:
        return False
    expected = base64.b64encode(
        hmac.new(settings.LINE_CHANNEL_SECRET.encode(), body, hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(expected, signature)


def webhook_receive(*, body: bytes, signature: str | None) -> int:
    """Verify and handle one webhook request; returns how many new events it carried."""
    if not signature_valid(body=body, signature=signature):
        raise WebhookSignatureInvalid()
    try:
        document = json.loads(body)
        events = document["events"]
        if not isinstance(events, list):
            raise TypeError("events is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookBodyInvalid() from exc
    new = 0
    for event in events:
        stored = _store(event)
        if stored is None:
            continue
        new += 1
        event_handle(stored)
    return new


def _store(event: Any) -> WebhookEvent | None:
    if not isinstance(event, dict) or not event.get("webhookEventId") or not event.get("type"):
        logger.warning("ignoring a malformed webhook event: %r", event)
        return None
    source = event.get("source") or {}
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(
                webhook_event_id=str(event["webhookEventId"]),
                event_type=str(event["type"]),
                line_user_id=str(source.get("userId") or "")[:33],
                timestamp=int(event.get("timestamp") or 0),
                is_redelivery=bool((event.get("deliveryContext") or {}).get("isRedelivery")),
                payload=event,
            )
    except IntegrityError:
        return None  # seen before: LINE redelivered it


def event_handle(stored: WebhookEvent) -> None:
    """Handle a stored event once; a failure is recorded on the row and can be retried."""
    try:
        with transaction.atomic():
            _dispatch(stored.payload, stored.timestamp)
            WebhookEvent.objects.filter(pk=stored.pk).update(processed_at=timezone.now(), error="")
    except Exception as exc:
        logger.exception("webhook event %s failed", stored.webhook_event_id)
        WebhookEvent.objects.filter(pk=stored.pk).update(error=f"{type(exc).__name__}: {exc}")


def _dispatch(event: dict[str, Any], timestamp: int) -> None:
    user_id = (event.get("source") or {}).get("userId")
    if not user_id or (event.get("source") or {}).get("type") != "user":
        return  # group and room events carry no member
    reply_token = event.get("replyToken")
    kind = event["type"]
    if kind == "follow":
        _on_follow(user_id, timestamp, reply_token)
    elif kind == "unfollow":
        _on_unfollow(user_id, timestamp)
    elif kind == "message":
        message = event.get("message") or {}
        _on_text(
            user_id, message.get("text", "") if message.get("type") == "text" else "", reply_token
        )
    elif kind == "postback":
        _on_postback(user_id, (event.get("postback") or {}).get("data", ""), reply_token)
    elif kind == "accountLink":
        _on_account_link(user_id, event.get("link") or {}, reply_token)


def _friend(user_id: str) -> LineFriend:
    friend, _created = LineFriend.objects.select_for_update().get_or_create(user_id=user_id)
    return friend


def _event_time(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp / 1000, tz=UTC) if timestamp else timezone.now()


def _on_follow(user_id: str, timestamp: int, reply_token: str | None) -> None:
    friend = _friend(user_id)
    if timestamp and timestamp < friend.follow_state_timestamp:
        return  # an older follow than the unfollow we already applied
    friend.is_blocked = False
    friend.followed_at = _event_time(timestamp)
    friend.follow_state_timestamp = timestamp
    friend.save(update_fields=["is_blocked", "followed_at", "follow_state_timestamp", "updated_at"])
    if friend.member_id is not None and friend.member is not None:
        outbox_message(
            line_user_id=user_id,
            messages=messages.welcome_back_linked(friend.member),
            reply_token=reply_token,
            purpose="welcome_back",
        )
        outbox_richmenu_for_link_state(line_user_id=user_id, linked=True)
    else:
        outbox_message(
            line_user_id=user_id,
            messages=messages.welcome_unlinked(),
            reply_token=reply_token,
            purpose="welcome",
        )


def _on_unfollow(user_id: str, timestamp: int) -> None:
    friend = _friend(user_id)
    if timestamp and timestamp < friend.follow_state_timestamp:
        return
    friend.is_blocked = True
    friend.blocked_at = _event_time(timestamp)
    friend.follow_state_timestamp = timestamp
    friend.save(update_fields=["is_blocked", "blocked_at", "follow_state_timestamp", "updated_at"])


_KEYWORDS_LINK = {"会員連携", "連携", "アカウント連携"}
_KEYWORDS_POINTS = {"ポイント", "ポイント・履歴", "ポイント確認", "残高"}
_KEYWORDS_CARD = {"会員証"}
_KEYWORDS_UNLINK = {"連携解除"}
_KEYWORDS_CONTACT = {"お問い合わせ"}
_KEYWORDS_STORE = {"お店の情報", "店舗情報"}


def _on_text(user_id: str, text: str, reply_token: str | None) -> None:
    friend = _friend(user_id)
    word = text.strip()
    linked = friend.member_id is not None
    if word in _KEYWORDS_LINK:
        _start_link(friend, reply_token)
    elif word in _KEYWORDS_POINTS:
        reply = (
            messages.points_summary(friend.member) if friend.member else messages.not_linked_yet()
        )
        outbox_message(
            line_user_id=user_id, messages=reply, reply_token=reply_token, purpose="points"
        )
    elif word in _KEYWORDS_CARD:
        reply = messages.card_link() if linked else messages.not_linked_yet()
        outbox_message(
            line_user_id=user_id, messages=reply, reply_token=reply_token, purpose="card"
        )
    elif word in _KEYWORDS_UNLINK and linked:
        outbox_message(
            line_user_id=user_id,
            messages=messages.unlink_confirm(),
            reply_token=reply_token,
            purpose="unlink_confirm",
        )
    elif word in _KEYWORDS_CONTACT:
        outbox_message(
            line_user_id=user_id,
            messages=messages.contact_info(),
            reply_token=reply_token,
            purpose="contact",
        )
    elif word in _KEYWORDS_STORE:
        outbox_message(
            line_user_id=user_id,
            messages=messages.store_info(),
            reply_token=reply_token,
            purpose="store_info",
        )
    else:
        outbox_message(
            line_user_id=user_id,
            messages=messages.help_message(linked=linked),
            reply_token=reply_token,
            purpose="help",
        )


def _start_link(friend: LineFriend, reply_token: str | None) -> None:
    if friend.member_id is not None and friend.member is not None:
        outbox_message(
            line_user_id=friend.user_id,
            messages=messages.linked_welcome(friend.member, bonus_awarded=0),
            reply_token=reply_token,
            purpose="already_linked",
        )
        return
    outbox_link_token_reply(line_user_id=friend.user_id, reply_token=reply_token)


def _on_postback(user_id: str, data: str, reply_token: str | None) -> None:
    friend = _friend(user_id)
    if data == messages.POSTBACK_LINK_START:
        _start_link(friend, reply_token)
    elif data == messages.POSTBACK_POINTS:
        reply = (
            messages.points_summary(friend.member) if friend.member else messages.not_linked_yet()
        )
        outbox_message(
            line_user_id=user_id, messages=reply, reply_token=reply_token, purpose="points"
        )
    elif data == messages.POSTBACK_UNLINK_CONFIRM:
        reply = messages.unlink_confirm() if friend.member_id else messages.not_linked_yet()
        outbox_message(
            line_user_id=user_id, messages=reply, reply_token=reply_token, purpose="unlink_confirm"
        )
    elif data == messages.POSTBACK_UNLINK:
        if not link_remove(line_user_id=user_id, reply_token=reply_token, source="chat"):
            outbox_message(
                line_user_id=user_id,
                messages=messages.not_linked_yet(),
                reply_token=reply_token,
                purpose="unlink",
            )
    elif data == messages.POSTBACK_UNLINK_CANCEL:
        outbox_message(
            line_user_id=user_id,
            messages=messages.unlink_cancelled(),
            reply_token=reply_token,
            purpose="unlink_cancel",
        )
    else:
        logger.info("unknown postback data %r", data)


def _on_account_link(user_id: str, link: dict[str, Any], reply_token: str | None) -> None:
    if link.get("result") != "ok":
        # LINE sends no reply token with a failed result.
        outbox_message(line_user_id=user_id, messages=messages.link_failed(), purpose="link_failed")
        return
    outcome = link_complete(
        line_user_id=user_id, nonce=str(link.get("nonce") or ""), reply_token=reply_token
    )
    if not outcome.linked and outcome.reason == "nonce_invalid":
        logger.warning("accountLink with an unknown, used or expired nonce for %s", user_id)
