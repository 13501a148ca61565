"""Webhook events as LINE sends them: built, recorded, signed and POSTed.

A delivery is recorded before it is sent and the POST happens outside any transaction, so a
webhook receiver in another thread or process sees every row it may look up (reply tokens,
the event itself) and a slow receiver never holds a database lock.
"""

import base64
import datetime
import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from line_sandbox.identifiers import bot_user_id, reply_token_new, ulid_new
from line_sandbox.models import SandboxReplyToken, SandboxUser, SandboxWebhookEvent

logger = logging.getLogger(__name__)

# https://developers.line.biz/en/reference/messaging-api/#send-reply-message-reply-token
REPLY_TOKEN_TTL = datetime.timedelta(minutes=1)
# A redelivered event's reply token works only within 20 minutes of the event.
REPLY_TOKEN_REDELIVERY_WINDOW = datetime.timedelta(minutes=20)
WEBHOOK_TIMEOUT_SECONDS = 10.0
USER_AGENT = "LineBotWebhook/2.0"


def signature_compute(body: bytes) -> str:
    """``X-Line-Signature``: base64(HMAC-SHA256(channel secret, raw body))."""
    secret = settings.LINE_CHANNEL_SECRET.encode()
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def event_record(
    *,
    event_type: str,
    user: SandboxUser | None,
    fields: dict[str, Any],
    with_reply_token: bool,
    with_source: bool = True,
) -> SandboxWebhookEvent:
    """Create the event row (and its reply token) with every property LINE requires."""
    now = timezone.now()
    event: dict[str, Any] = {
        "type": event_type,
        "mode": "active",
        "timestamp": int(now.timestamp() * 1000),
        "webhookEventId": ulid_new(),
        "deliveryContext": {"isRedelivery": False},
    }
    if with_source and user is not None:
        event["source"] = {"type": "user", "userId": user.user_id}
    token = reply_token_new() if with_reply_token else None
    if token:
        event["replyToken"] = token
    event.update(fields)
    with transaction.atomic():
        row = SandboxWebhookEvent.objects.create(
            webhook_event_id=event["webhookEventId"],
            event_type=event_type,
            user=user,
            event=event,
            body="",
        )
        if token and user is not None:
            SandboxReplyToken.objects.create(
                token=token, user=user, event=row, expires_at=now + REPLY_TOKEN_TTL
            )
    return row


def event_deliver(row: SandboxWebhookEvent, *, redelivery: bool = False) -> int:
    """POST the event to ``LINE_SANDBOX_WEBHOOK_URL``; return the HTTP status (0 if none)."""
    event = dict(row.event)
    event["deliveryContext"] = {"isRedelivery": redelivery}
    if redelivery:
        _reply_token_renew(row)
    payload = {"destination": bot_user_id(), "events": [event]}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Line-Signature": signature_compute(body),
    }
    url = settings.LINE_SANDBOX_WEBHOOK_URL
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)
        status = response.status_code
    except httpx.HTTPError as exc:
        logger.warning("webhook %s to %s failed: %s", row.webhook_event_id, url, exc)
        status = 0
    SandboxWebhookEvent.objects.filter(pk=row.pk).update(
        body=body.decode(),
        response_status=status,
        delivery_count=F("delivery_count") + 1,
        last_delivered_at=timezone.now(),
    )
    return status


def _reply_token_renew(row: SandboxWebhookEvent) -> None:
    # A redelivered event carries the same reply token, usable for another minute unless it
    # was used already or the event is older than the redelivery window.
    now = timezone.now()
    occurred = datetime.datetime.fromtimestamp(row.event["timestamp"] / 1000, tz=datetime.UTC)
    if now - occurred > REPLY_TOKEN_REDELIVERY_WINDOW:
        return
    SandboxReplyToken.objects.filter(event=row, used_at__isnull=True).update(
        expires_at=now + REPLY_TOKEN_TTL
    )
