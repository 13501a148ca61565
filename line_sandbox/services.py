"""The sandbox's Python API: simulated LINE users, the webhooks they cause, faults, ID tokens.

Used by the chat simulator's controls and by tests. Every ``user_*`` function that causes a
webhook records the event, POSTs it signed to ``LINE_SANDBOX_WEBHOOK_URL`` synchronously and
returns the receiver's HTTP status (0 when nothing answered). Call them outside a database
transaction (tests: ``transactional_db``), so the receiver can see what was recorded.
"""

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from line_sandbox.channel import picture_url
from line_sandbox.errors import SandboxStateError
from line_sandbox.identifiers import message_id_new, quote_token_new, user_id_new
from line_sandbox.models import (
    FriendStatus,
    MessageDirection,
    SandboxFault,
    SandboxIdToken,
    SandboxLinkToken,
    SandboxMessage,
    SandboxRichMenu,
    SandboxRichMenuAlias,
    SandboxUser,
    SandboxWebhookEvent,
)
from line_sandbox.validation import USER_ID_RE, utf16_length
from line_sandbox.webhooks import event_deliver, event_record

ID_TOKEN_ISSUER = "https://access.line.me"
NONCE_MIN_LENGTH = 10
NONCE_MAX_LENGTH = 255
TEXT_MAX_LENGTH = 5000

# --- users and the webhooks they cause -----------------------------------------------------


def user_create(
    display_name: str, *, user_id: str | None = None, status_message: str = ""
) -> SandboxUser:
    """A new LINE user (``U`` + 32 lowercase hex) who has not added the account yet."""
    if user_id is not None and not USER_ID_RE.match(user_id):
        raise ValueError(f"not a LINE user ID: {user_id!r}")
    user = SandboxUser(
        user_id=user_id or user_id_new(),
        display_name=display_name.strip() or "LINEユーザー",
        status_message=status_message,
    )
    user.full_clean()
    user.save()
    return user


def user_get(user: SandboxUser | str) -> SandboxUser:
    """The current row for a user or a user ID (raises ``SandboxUser.DoesNotExist``)."""
    user_id = user.user_id if isinstance(user, SandboxUser) else user
    return SandboxUser.objects.get(user_id=user_id)


def _operation_note(user: SandboxUser, source: str, text: str) -> None:
    SandboxMessage.objects.create(
        user=user, direction=MessageDirection.SYSTEM, source=source, payload={"text": text}
    )


def user_follow(user: SandboxUser | str) -> int:
    """Add the account as a friend (or unblock it): sends ``follow`` with a reply token."""
    with transaction.atomic():
        row = SandboxUser.objects.select_for_update().get(pk=user_get(user).pk)
        if row.friend_status == FriendStatus.FRIEND:
            raise SandboxStateError("すでに友だちです。")
        was_blocked = row.friend_status == FriendStatus.BLOCKED
        row.friend_status = FriendStatus.FRIEND
        row.save(update_fields=["friend_status"])
        _operation_note(
            row, "follow", "ブロック解除しました" if was_blocked else "友だち追加しました"
        )
    event = event_record(
        event_type="follow",
        user=row,
        fields={"follow": {"isUnblocked": was_blocked}},
        with_reply_token=True,
    )
    return event_deliver(event)


def user_unfollow(user: SandboxUser | str) -> int:
    """Block the account: sends ``unfollow`` (no reply token)."""
    with transaction.atomic():
        row = SandboxUser.objects.select_for_update().get(pk=user_get(user).pk)
        if row.friend_status != FriendStatus.FRIEND:
            raise SandboxStateError("友だちではありません。")
        row.friend_status = FriendStatus.BLOCKED
        row.switched_rich_menu = None
        row.save(update_fields=["friend_status", "switched_rich_menu"])
        _operation_note(row, "unfollow", "ブロックしました")
    event = event_record(event_type="unfollow", user=row, fields={}, with_reply_token=False)
    return event_deliver(event)


def _sender(user: SandboxUser | str) -> SandboxUser:
    row = user_get(user)
    if row.friend_status == FriendStatus.BLOCKED:
        raise SandboxStateError("ブロック中のアカウントにはメッセージを送れません。")
    return row


def user_send_text(user: SandboxUser | str, text: str) -> int:
    """The user sends a text message: sends a ``message`` event with a reply token."""
    row = _sender(user)
    if not text or utf16_length(text) > TEXT_MAX_LENGTH:
        raise SandboxStateError("メッセージは1〜5000文字で入力してください。")
    message_id = message_id_new()
    SandboxMessage.objects.create(
        user=row,
        direction=MessageDirection.USER,
        source="text",
        message_id=message_id,
        payload={"type": "text", "text": text},
    )
    event = event_record(
        event_type="message",
        user=row,
        fields={
            "message": {
                "id": message_id,
                "type": "text",
                "quoteToken": quote_token_new(),
                "text": text,
            }
        },
        with_reply_token=True,
    )
    return event_deliver(event)


def user_postback(
    user: SandboxUser | str,
    data: str,
    params: dict[str, str] | None = None,
    *,
    display_text: str | None = None,
) -> int:
    """The user taps a postback action: sends a ``postback`` event with a reply token.

    ``display_text`` is what LINE shows in the chat as the user's message (the action's
    ``displayText``); it is not part of the event.
    """
    row = _sender(user)
    SandboxMessage.objects.create(
        user=row,
        direction=MessageDirection.USER,
        source="postback",
        payload={"type": "postback", "data": data, "displayText": display_text, "params": params},
    )
    postback: dict[str, Any] = {"data": data}
    if params:
        postback["params"] = params
    event = event_record(
        event_type="postback", user=row, fields={"postback": postback}, with_reply_token=True
    )
    return event_deliver(event)


def user_rich_menu_switch(user: SandboxUser | str, alias_id: str, data: str) -> int:
    """A rich menu switch action: show the alias's menu, then send its postback event.

    https://developers.line.biz/en/reference/messaging-api/#postback-params-object-for-richmenu-switch-action
    """
    row = _sender(user)
    alias = SandboxRichMenuAlias.objects.filter(alias_id=alias_id).first()
    menu = (
        SandboxRichMenu.objects.filter(rich_menu_id=alias.rich_menu_id).first() if alias else None
    )
    params: dict[str, str]
    if alias is None:
        params = {"status": "RICHMENU_ALIAS_ID_NOTFOUND"}
    elif menu is None:
        params = {"status": "RICHMENU_NOTFOUND"}
    else:
        SandboxUser.objects.filter(pk=row.pk).update(switched_rich_menu=menu)
        params = {"newRichMenuAliasId": alias_id, "status": "SUCCESS"}
    return user_postback(row, data, params)


def event_redeliver(event_id: str) -> int:
    """Send a recorded event again: same ``webhookEventId``, ``isRedelivery`` true."""
    row = SandboxWebhookEvent.objects.get(webhook_event_id=event_id)
    return event_deliver(row, redelivery=True)


# --- account link --------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountLinkOutcome:
    ok: bool
    user: SandboxUser | None
    webhook_status: int


def account_link_complete(link_token: str, nonce: str) -> AccountLinkOutcome:
    """What LINE does when the user reaches the account link dialog.

    Consumes the link token (single use, 10 minutes) and sends ``accountLink`` with
    ``link.result`` ``ok`` and a reply token, or ``failed`` for an unknown, expired or used
    token. A failed event carries no reply token and no source, as documented in
    https://developers.line.biz/en/reference/messaging-api/#account-link-event
    """
    if not NONCE_MIN_LENGTH <= len(nonce) <= NONCE_MAX_LENGTH:
        raise ValueError("nonce must be 10 to 255 characters")
    now = timezone.now()
    with transaction.atomic():
        token = (
            SandboxLinkToken.objects.select_for_update()
            .select_related("user")
            .filter(token=link_token)
            .first()
        )
        ok = token is not None and token.used_at is None and token.expires_at > now
        if token is not None and ok:
            token.used_at = now
            token.save(update_fields=["used_at"])
    user = token.user if token is not None else None
    if ok and user is not None:
        _operation_note(user, "link", "アカウント連携しました")
        event = event_record(
            event_type="accountLink",
            user=user,
            fields={"link": {"result": "ok", "nonce": nonce}},
            with_reply_token=True,
        )
    else:
        if user is not None:
            _operation_note(user, "link", "アカウント連携に失敗しました")
        event = event_record(
            event_type="accountLink",
            user=user,
            fields={"link": {"result": "failed", "nonce": nonce}},
            with_reply_token=False,
            with_source=False,
        )
    return AccountLinkOutcome(ok=ok, user=user, webhook_status=event_deliver(event))


# --- the simulator's taps ------------------------------------------------------------------


def user_action_perform(user: SandboxUser | str, action: dict[str, Any]) -> dict[str, Any]:
    """Do what LINE does when the user taps a control with ``action``.

    Returns ``{"webhookStatus": n}`` for actions that send an event, ``{"openUrl": url}`` for
    URI actions (the simulator opens it) and ``{"clipboard": text}`` for clipboard actions.
    """
    kind = action.get("type")
    if kind == "message":
        return {"webhookStatus": user_send_text(user, str(action.get("text", "")))}
    if kind == "postback":
        display = action.get("displayText") or action.get("text")
        status = user_postback(user, str(action.get("data", "")), display_text=display)
        return {"webhookStatus": status}
    if kind == "datetimepicker":
        params = _datetime_picked(action)
        status = user_postback(user, str(action.get("data", "")), params)
        return {"webhookStatus": status}
    if kind == "richmenuswitch":
        status = user_rich_menu_switch(
            user, str(action.get("richMenuAliasId", "")), str(action.get("data", ""))
        )
        return {"webhookStatus": status}
    if kind == "uri":
        return {"openUrl": simulator_uri_resolve(user, str(action.get("uri", "")))}
    if kind == "clipboard":
        return {"clipboard": str(action.get("clipboardText", ""))}
    raise SandboxStateError(f"このアクションはシミュレーターでは使えません: {kind}")


def _datetime_picked(action: dict[str, Any]) -> dict[str, str]:
    # The simulator "picks" the initial value, or now.
    mode = action.get("mode", "datetime")
    now = timezone.localtime()
    initial = action.get("initial")
    if mode == "date":
        return {"date": initial or now.strftime("%Y-%m-%d")}
    if mode == "time":
        return {"time": initial or now.strftime("%H:%M")}
    return {"datetime": initial or now.strftime("%Y-%m-%dT%H:%M")}


def simulator_uri_resolve(user: SandboxUser | str, uri: str) -> str:
    """Where the simulator opens a URI action.

    ``https://liff.line.me/{LIFF_ID}/path?q`` opens the local LIFF page ``{SITE_URL}/liff/path?q``
    with a fresh sandbox ID token for the user in the fragment (``#id_token=…``), the way LIFF
    hands credentials to the page after login. Other URIs open unchanged.
    """
    liff_id = settings.LIFF_ID
    parts = urlsplit(uri)
    if liff_id and parts.netloc == "liff.line.me" and parts.path.startswith(f"/{liff_id}"):
        rest = parts.path[len(liff_id) + 1 :].lstrip("/")
        url = f"{settings.SITE_URL}/liff/{rest}"
        if parts.query:
            url += f"?{parts.query}"
        return f"{url}#id_token={id_token_issue(user_get(user).user_id)}"
    return uri


# --- faults --------------------------------------------------------------------------------

_FAULT_MESSAGES = {
    429: "The API rate limit has been exceeded. Try again later.",
    500: "Internal server error",
    503: "Service unavailable",
}


@dataclass(frozen=True)
class FaultEffect:
    status: int | None
    message: str
    latency_ms: int


def fault_set(
    *,
    status: int | None = 429,
    count: int | None = 1,
    path_prefix: str = "",
    latency_ms: int = 0,
    message: str = "",
) -> SandboxFault:
    """Fail the next ``count`` API calls whose path starts with ``path_prefix``.

    ``status`` None with ``latency_ms`` only slows calls down; ``count`` None keeps the fault
    until ``fault_clear()``. Paths are the LINE paths, e.g. ``/v2/bot/message/push``. Faults
    add up; the oldest matching one with a status decides the answer.
    """
    if status is None and not latency_ms:
        raise ValueError("a fault needs a status or a latency")
    if count is not None and count < 1:
        raise ValueError("count must be at least 1 (or None for every call)")
    fault = SandboxFault(
        status=status,
        remaining=count,
        path_prefix=path_prefix,
        latency_ms=latency_ms,
        message=message or (_FAULT_MESSAGES.get(status, "") if status else ""),
    )
    fault.full_clean()
    fault.save()
    return fault


def fault_clear() -> int:
    deleted, _ = SandboxFault.objects.all().delete()
    return deleted


def fault_take(path: str) -> FaultEffect | None:
    """Consume the faults matching one API call (locks the fault rows while counting)."""
    if not SandboxFault.objects.exists():
        return None
    status: int | None = None
    message = ""
    latency_ms = 0
    with transaction.atomic():
        for fault in SandboxFault.objects.select_for_update().order_by("id"):
            if not path.startswith(fault.path_prefix):
                continue
            if fault.status is not None and status is not None:
                continue
            if fault.remaining is not None:
                if fault.remaining <= 1:
                    fault.delete()
                else:
                    fault.remaining -= 1
                    fault.save(update_fields=["remaining"])
            latency_ms = max(latency_ms, fault.latency_ms)
            if fault.status is not None:
                status, message = fault.status, fault.message
    if status is None and not latency_ms:
        return None
    return FaultEffect(status=status, message=message, latency_ms=latency_ms)


def fault_apply_latency(effect: FaultEffect) -> None:
    if effect.latency_ms:
        time.sleep(effect.latency_ms / 1000)


# --- LINE Login ID tokens ------------------------------------------------------------------


class IdTokenInvalid(Exception):
    """Verification failed; ``str(exc)`` is LINE's ``error_description``."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _id_token_key() -> bytes:
    return hashlib.sha256(f"line-sandbox-id-token:{settings.SECRET_KEY}".encode()).digest()


def id_token_issue(user_id: str, *, expires_in: int = 3600, nonce: str | None = None) -> str:
    """A JWT-shaped ID token for a sandbox user, as LINE Login / LIFF would issue.

    The claims are LINE's (``iss``, ``sub``, ``aud`` = ``LINE_LOGIN_CHANNEL_ID``, ``exp``,
    ``iat``, ``nonce``, ``amr``, ``name``, ``picture``). The sandbox signs with HS256 and a key
    derived from SECRET_KEY, and remembers the token: only tokens it issued verify.
    """
    user = SandboxUser.objects.filter(user_id=user_id).first()
    now = int(timezone.now().timestamp())
    claims: dict[str, Any] = {
        "iss": ID_TOKEN_ISSUER,
        "sub": user_id,
        "aud": settings.LINE_LOGIN_CHANNEL_ID,
        "exp": now + expires_in,
        "iat": now,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    claims["amr"] = ["lineautologin"]
    # Two tokens for one user within a second must still differ (the store keys on a hash).
    claims["jti"] = secrets.token_hex(8)
    if user is not None:
        claims["name"] = user.display_name
        claims["picture"] = picture_url(user)
    header = {"typ": "JWT", "alg": "HS256", "kid": "line-sandbox"}
    signing_input = (
        f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}."
        f"{_b64url(json.dumps(claims, separators=(',', ':'), ensure_ascii=False).encode())}"
    )
    signature = hmac.new(_id_token_key(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64url(signature)}"
    SandboxIdToken.objects.create(
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        user_id=user_id,
        claims=claims,
        expires_at=timezone.now() + datetime.timedelta(seconds=expires_in),
    )
    return token


def id_token_verify(
    id_token: str, client_id: str, *, nonce: str | None = None, user_id: str | None = None
) -> dict[str, Any]:
    """LINE's ``POST /oauth2/v2.1/verify``: the claims, or ``IdTokenInvalid`` with LINE's
    error description (https://developers.line.biz/en/reference/line-login/#verify-id-token).
    """
    parts = id_token.split(".")
    if len(parts) != 3:
        raise IdTokenInvalid("Invalid IdToken.")
    expected = hmac.new(_id_token_key(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        signature_ok = hmac.compare_digest(expected, _b64url_decode(parts[2]))
        claims = json.loads(_b64url_decode(parts[1]))
    except ValueError as exc:
        raise IdTokenInvalid("Invalid IdToken.") from exc
    issued = SandboxIdToken.objects.filter(
        token_hash=hashlib.sha256(id_token.encode()).hexdigest()
    ).exists()
    if not signature_ok or not issued or not isinstance(claims, dict):
        raise IdTokenInvalid("Invalid IdToken.")
    if claims.get("iss") != ID_TOKEN_ISSUER:
        raise IdTokenInvalid("Invalid IdToken Issuer.")
    if claims.get("exp", 0) <= int(timezone.now().timestamp()):
        raise IdTokenInvalid("IdToken expired.")
    if claims.get("aud") != client_id:
        raise IdTokenInvalid("Invalid IdToken Audience.")
    if nonce is not None and claims.get("nonce") != nonce:
        raise IdTokenInvalid("Invalid IdToken Nonce.")
    if user_id is not None and claims.get("sub") != user_id:
        raise IdTokenInvalid("Invalid IdToken Subject Identifier.")
    return claims
