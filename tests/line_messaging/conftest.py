import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from line_messaging.models import RichMenuDeployment
from line_messaging.services.richmenus import richmenu_deploy

SECRET = "test-channel-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def line_settings(settings):
    settings.LINE_CHANNEL_SECRET = SECRET
    settings.LINE_CHANNEL_ACCESS_TOKEN = "test-access-token"
    settings.LINE_LINK_BONUS_POINTS = 200
    settings.LINE_BACKOFF_SCALE = 0
    settings.SITE_URL = "http://testserver"
    settings.LINE_ACCESS_BASE_URL = "http://line-access.test"
    return settings


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def new_user_id() -> str:
    return "U" + secrets.token_hex(16)


def event(kind: str, user_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "type": kind,
        "mode": "active",
        "timestamp": fields.pop("timestamp", int(time.time() * 1000)),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": fields.pop("webhook_event_id", "01" + secrets.token_hex(12).upper()),
        "deliveryContext": {"isRedelivery": fields.pop("is_redelivery", False)},
    }
    if kind not in ("unfollow",) and fields.get("reply_token", True) is not None:
        body["replyToken"] = fields.pop("reply_token", secrets.token_hex(16))
    fields.pop("reply_token", None)
    body.update(fields)
    return body


class WebhookSender:
    def __init__(self) -> None:
        self.client = Client()

    def send(self, *events: dict[str, Any], signature: str | None = None, raw: bytes | None = None):
        body = (
            raw
            if raw is not None
            else json.dumps({"destination": "Ubot", "events": list(events)}).encode()
        )
        headers = {} if signature == "" else {"X-Line-Signature": signature or sign(body)}
        return self.client.post(
            "/line/webhook", data=body, content_type="application/json", headers=headers
        )

    def follow(self, user_id: str, **fields: Any):
        return self.send(event("follow", user_id, follow={"isUnblocked": False}, **fields))

    def unfollow(self, user_id: str, **fields: Any):
        return self.send(event("unfollow", user_id, reply_token=None, **fields))

    def text(self, user_id: str, text: str, **fields: Any):
        return self.send(
            event("message", user_id, message={"type": "text", "id": "1", "text": text}, **fields)
        )

    def postback(self, user_id: str, data: str, **fields: Any):
        return self.send(event("postback", user_id, postback={"data": data}, **fields))

    def account_link(self, user_id: str, *, result: str, nonce: str, **fields: Any):
        if result != "ok":
            fields["reply_token"] = None
        return self.send(
            event("accountLink", user_id, link={"result": result, "nonce": nonce}, **fields)
        )


@pytest.fixture
def webhook(db) -> WebhookSender:
    return WebhookSender()


@pytest.fixture
def user_id() -> str:
    return new_user_id()


@pytest.fixture
def issue_link_token(db) -> Callable[[str], str]:
    """What the worker does after LINE issued a link token: remember whose it is."""
    from line_messaging.services.linking import link_token_record

    def issue(line_user_id: str) -> str:
        token = secrets.token_urlsafe(24)
        link_token_record(line_user_id=line_user_id, link_token=token)
        return token

    return issue


@pytest.fixture
def line(live_server, settings):
    """Point every LINE URL at the sandbox served by the live server."""
    base = f"{live_server.url}/line-sandbox"
    settings.SITE_URL = live_server.url
    settings.LINE_API_BASE_URL = f"{base}/api"
    settings.LINE_API_DATA_BASE_URL = f"{base}/api-data"
    settings.LINE_ACCESS_BASE_URL = f"{base}/access"
    settings.LINE_SANDBOX_WEBHOOK_URL = f"{live_server.url}/line/webhook"
    settings.LINE_CHANNEL_SECRET = "sandbox-channel-secret-0123456789abcdef"
    settings.LINE_CHANNEL_ACCESS_TOKEN = "sandbox-channel-access-token"
    settings.LINE_BACKOFF_SCALE = 0
    settings.LINE_LINK_BONUS_POINTS = 200
    return live_server


@pytest.fixture
def deployed(line):
    richmenu_deploy()
    return {d.name: d.rich_menu_id for d in RichMenuDeployment.objects.all()}
