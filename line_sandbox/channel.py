"""What the LINE Platform does for each Messaging API call, applied to the sandbox's state.

Functions here take the parsed request, return the JSON body LINE would answer with, and
raise ``LineApiError`` with LINE's status code and error body otherwise. Error strings are
the ones LINE documents in https://developers.line.biz/en/reference/messaging-api/ where it
documents one; the few it does not document are marked "sandbox wording".
"""

import base64
import datetime
import io
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from line_sandbox.errors import LineApiError, invalid_body, invalid_user_id_parameter, not_found
from line_sandbox.identifiers import (
    bot_user_id,
    link_token_new,
    message_id_new,
    quote_token_new,
    rich_menu_id_new,
)
from line_sandbox.models import (
    FriendStatus,
    MessageDirection,
    SandboxApiCall,
    SandboxLinkToken,
    SandboxMessage,
    SandboxReplyToken,
    SandboxRetryKey,
    SandboxRichMenu,
    SandboxRichMenuAlias,
    SandboxUser,
)
from line_sandbox.validation import (
    RICH_MENU_ALIAS_ID_RE,
    RICH_MENU_ID_RE,
    USER_ID_RE,
    messages_validate,
    rich_menu_validate,
)

RETRY_KEY_TTL = datetime.timedelta(hours=24)
LINK_TOKEN_TTL = datetime.timedelta(minutes=10)
MAX_RICH_MENUS = 1000
MAX_RICH_MENU_ALIASES = 1000
RICH_MENU_IMAGE_MAX_BYTES = 1024 * 1024
RICH_MENU_IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}
MULTICAST_MAX_RECIPIENTS = 500
BULK_LINK_MAX_USERS = 500
# Message types LINE returns a quoteToken for in sentMessages.
QUOTABLE_TYPES = {"text", "textV2", "sticker", "image", "video"}


def _property_invalid(prop: str) -> LineApiError:
    return LineApiError(
        400, f"The property, {prop}, in the request body is invalid (line: -, column: -)"
    )


def _richmenu_image_required() -> LineApiError:
    return LineApiError(400, "must upload richmenu image before applying it to user", [])


# --- sending -------------------------------------------------------------------------------
def messages_deliver(
    users: Iterable[SandboxUser],
    messages: list[dict],
    *,
    source: str,
    request_id: str,
    reply: bool = False,
) -> list[dict]:
    """Record ``messages`` in each user's chat; return the last user's ``sentMessages``.

    LINE answers 200 for blocked users and non-friends but they never see the message, so
    such rows are kept with ``delivered=False``. A reply reaches anyone who has not blocked.
    """
    rows = []
    sent: list[dict] = []
    for user in users:
        if reply:
            delivered = user.friend_status != FriendStatus.BLOCKED
        else:
            delivered = user.friend_status == FriendStatus.FRIEND
        sent = []
        for message in messages:
            message_id = message_id_new()
            rows.append(
                SandboxMessage(
                    user=user,
                    direction=MessageDirection.BOT,
                    source=source,
                    message_id=message_id,
                    payload=message,
                    delivered=delivered,
                    request_id=request_id,
                )
            )
            entry = {"id": message_id}
            if message.get("type") in QUOTABLE_TYPES:
                entry["quoteToken"] = quote_token_new()
            sent.append(entry)
    SandboxMessage.objects.bulk_create(rows, batch_size=500)
    return sent


def reply_send(body: dict, *, request_id: str) -> dict:
    details = []
    token = body.get("replyToken")
    if not isinstance(token, str) or not token:
        details.append({"message": "must be specified", "property": "replyToken"})
    details += messages_validate(body)
    if details:
        raise invalid_body(details)
    now = timezone.now()
    with transaction.atomic():
        # A conditional update makes the token single-use even under concurrent replies.
        used = SandboxReplyToken.objects.filter(
            token=token, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not used:
            raise LineApiError(400, "Invalid reply token")
        user = SandboxReplyToken.objects.select_related("user").get(token=token).user
        sent = messages_deliver(
            [user], body["messages"], source="reply", request_id=request_id, reply=True
        )
    return {"sentMessages": sent}


def push_send(body: dict, *, request_id: str) -> dict:
    details = []
    to = body.get("to")
    if to is None:
        details.append({"message": "must be specified", "property": "to"})
    details += messages_validate(body)
    if details:
        raise invalid_body(details)
    if not isinstance(to, str) or not (to[:1] in "UCR" and USER_ID_RE.match("U" + to[1:])):
        raise _property_invalid("'to'")
    user = SandboxUser.objects.filter(user_id=to).first()
    if user is None:
        # A well-formed ID this channel has never seen (another provider's user, a group).
        raise LineApiError(400, "Failed to send messages")
    with transaction.atomic():
        sent = messages_deliver([user], body["messages"], source="push", request_id=request_id)
    return {"sentMessages": sent}


def multicast_send(body: dict, *, request_id: str) -> dict:
    details = []
    to = body.get("to")
    if to is None:
        details.append({"message": "must be specified", "property": "to"})
    elif not isinstance(to, list) or not 1 <= len(to) <= MULTICAST_MAX_RECIPIENTS:
        details.append(
            {"message": f"Size must be between 1 and {MULTICAST_MAX_RECIPIENTS}", "property": "to"}
        )
    details += messages_validate(body)
    if details:
        raise invalid_body(details)
    assert isinstance(to, list)
    for i, user_id in enumerate(to):
        if not isinstance(user_id, str) or not USER_ID_RE.match(user_id):
            raise _property_invalid(f"to[{i}]")
    # Unknown IDs are dropped silently, as LINE does for IDs from other providers.
    users = SandboxUser.objects.filter(user_id__in=set(to)).order_by("id")
    with transaction.atomic():
        messages_deliver(users, body["messages"], source="multicast", request_id=request_id)
    return {}


# LINE's per-channel rate limit for multicast
# (https://developers.line.biz/en/reference/messaging-api/#rate-limits); tests may lower it
# with LINE_SANDBOX_MULTICAST_PER_SECOND.
MULTICAST_PER_SECOND = 200
RATE_LIMIT_MESSAGE = "The API rate limit has been exceeded. Try again later."


def multicast_rate_check() -> None:
    """Answer 429 as LINE does once a channel made its limit of multicasts in a second."""
    limit = getattr(settings, "LINE_SANDBOX_MULTICAST_PER_SECOND", MULTICAST_PER_SECOND)
    recent = SandboxApiCall.objects.filter(
        path="/v2/bot/message/multicast",
        created_at__gt=timezone.now() - datetime.timedelta(seconds=1),
    ).exclude(status=429)
    if recent.count() >= limit:
        raise LineApiError(429, RATE_LIMIT_MESSAGE)


def broadcast_send(body: dict, *, request_id: str, source: str = "broadcast") -> dict:
    """Broadcast, and narrowcast without its filters: every friend gets the messages."""
    details = messages_validate(body)
    if details:
        raise invalid_body(details)
    users = SandboxUser.objects.filter(friend_status=FriendStatus.FRIEND).order_by("id")
    with transaction.atomic():
        messages_deliver(users, body["messages"], source=source, request_id=request_id)
    return {}


def messages_check(body: dict) -> dict:
    """The ``/v2/bot/message/validate/*`` endpoints."""
    details = messages_validate(body)
    if details:
        raise invalid_body(details)
    return {}


def retry_key_normalize(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError as exc:
        # Sandbox wording: LINE documents the 400 but not its message.
        raise LineApiError(400, "The retry key must be a UUID") from exc


def retry_key_run(key: str, *, endpoint: str, request_id: str, send: Callable[[], dict]) -> dict:
    """Run ``send`` once per ``X-Line-Retry-Key`` within 24 hours; repeats answer 409.

    The key is stored in the same transaction as the delivery, so a failed request (400,
    injected 500) leaves the key unused and a retry is processed normally. Two concurrent
    first attempts race on the unique key: the loser's delivery rolls back and it gets 409.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            existing = SandboxRetryKey.objects.select_for_update().filter(key=key).first()
            if existing is not None and now - existing.accepted_at < RETRY_KEY_TTL:
                raise _retry_key_conflict(existing)
            body = send()
            if existing is None:
                SandboxRetryKey.objects.create(
                    key=key,
                    endpoint=endpoint,
                    accepted_request_id=request_id,
                    response=body,
                    accepted_at=now,
                )
            else:
                existing.endpoint = endpoint
                existing.accepted_request_id = request_id
                existing.response = body
                existing.accepted_at = now
                existing.save()
            return body
    except IntegrityError as exc:
        raise _retry_key_conflict(SandboxRetryKey.objects.get(key=key)) from exc


def _retry_key_conflict(accepted: SandboxRetryKey) -> LineApiError:
    # https://developers.line.biz/en/docs/messaging-api/retrying-api-request/
    extra = {}
    if "sentMessages" in accepted.response:
        extra["sentMessages"] = accepted.response["sentMessages"]
    return LineApiError(
        409,
        "The retry key is already accepted",
        headers={"x-line-accepted-request-id": accepted.accepted_request_id},
        extra=extra,
    )


# --- users ---------------------------------------------------------------------------------
def _user_id_check(user_id: str) -> None:
    if not USER_ID_RE.match(user_id):
        raise invalid_user_id_parameter()


def profile_get(user_id: str) -> dict:
    _user_id_check(user_id)
    user = SandboxUser.objects.filter(user_id=user_id, friend_status=FriendStatus.FRIEND).first()
    if user is None:
        raise not_found()
    profile = {
        "displayName": user.display_name,
        "userId": user.user_id,
        "language": user.language,
        "pictureUrl": picture_url(user),
    }
    if user.status_message:
        profile["statusMessage"] = user.status_message
    return profile


def picture_url(user: SandboxUser) -> str:
    return f"{settings.SITE_URL}/static/line_sandbox/avatar.svg"


def followers_ids(*, limit: int = 300, start: str | None = None) -> dict:
    limit = max(1, min(limit, 1000))
    friends = SandboxUser.objects.filter(friend_status=FriendStatus.FRIEND).order_by("id")
    if start:
        try:
            after = int(base64.urlsafe_b64decode(start.encode()).decode())
        except ValueError as exc:
            raise LineApiError(400, "Invalid start param") from exc
        friends = friends.filter(id__gt=after)
    page = list(friends[: limit + 1])
    body: dict[str, Any] = {"userIds": [u.user_id for u in page[:limit]]}
    if len(page) > limit:
        body["next"] = base64.urlsafe_b64encode(str(page[limit - 1].id).encode()).decode()
    return body


def bot_info() -> dict:
    return {
        "userId": bot_user_id(),
        "basicId": "@sandbox",
        "displayName": "LINEサンドボックス",
        "chatMode": "bot",
        "markAsReadMode": "auto",
    }


def link_token_issue(user_id: str) -> dict:
    """Issue a single-use link token, valid 10 minutes, for a friend of the account."""
    _user_id_check(user_id)
    user = SandboxUser.objects.filter(user_id=user_id, friend_status=FriendStatus.FRIEND).first()
    if user is None:
        # Sandbox wording: LINE only issues link tokens to friends but documents no message.
        raise LineApiError(400, "Failed to issue link token")
    token = SandboxLinkToken.objects.create(
        token=link_token_new(), user=user, expires_at=timezone.now() + LINK_TOKEN_TTL
    )
    return {"linkToken": token.token}


# --- rich menus ----------------------------------------------------------------------------
def _rich_menu(rich_menu_id: str) -> SandboxRichMenu:
    menu = SandboxRichMenu.objects.filter(rich_menu_id=rich_menu_id).first()
    if menu is None:
        raise not_found()
    return menu


def rich_menu_check(body: dict) -> dict:
    details = rich_menu_validate(body)
    if details:
        raise invalid_body(details)
    return {}


def rich_menu_create(body: dict) -> dict:
    rich_menu_check(body)
    if SandboxRichMenu.objects.count() >= MAX_RICH_MENUS:
        # Sandbox wording: LINE documents the 1,000 limit and the 400, not the message.
        raise LineApiError(400, "The maximum number of rich menus has been reached (1000)")
    menu = SandboxRichMenu.objects.create(
        rich_menu_id=rich_menu_id_new(),
        name=body["name"],
        chat_bar_text=body["chatBarText"],
        selected=body["selected"],
        width=body["size"]["width"],
        height=body["size"]["height"],
        areas=body["areas"],
    )
    return {"richMenuId": menu.rich_menu_id}


def rich_menu_get(rich_menu_id: str) -> dict:
    return _rich_menu(rich_menu_id).as_line_dict()


def rich_menu_list() -> dict:
    return {"richmenus": [menu.as_line_dict() for menu in SandboxRichMenu.objects.all()]}


def rich_menu_delete(rich_menu_id: str) -> dict:
    # Users linked to it fall back to the default menu (foreign keys are SET_NULL).
    _rich_menu(rich_menu_id).delete()
    return {}


def rich_menu_image_set(rich_menu_id: str, content_type: str, data: bytes) -> dict:
    """Attach the image: PNG or JPEG, ≤ 1 MB, exactly the menu's size, set only once."""
    if content_type not in RICH_MENU_IMAGE_TYPES:
        raise LineApiError(415, f"The content type, {content_type or '-'}, is not supported")
    menu = _rich_menu(rich_menu_id)
    if menu.has_image:
        raise LineApiError(400, "An image has already been uploaded to the richmenu")
    size_error = "The image size is not allowed for richmenu"
    if len(data) > RICH_MENU_IMAGE_MAX_BYTES:
        raise LineApiError(
            400,
            size_error,
            [{"message": f"file size must be at most {RICH_MENU_IMAGE_MAX_BYTES} bytes"}],
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, image_size = image.format, image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Sandbox wording for an unreadable file.
        raise LineApiError(400, "The image could not be decoded") from exc
    if image_format not in RICH_MENU_IMAGE_TYPES.values():
        raise LineApiError(400, "The image could not be decoded")
    if image_size != (menu.width, menu.height):
        raise LineApiError(
            400,
            size_error,
            [
                {
                    "message": f"image must be {menu.width}x{menu.height} pixels like the rich "
                    f"menu, got {image_size[0]}x{image_size[1]}"
                }
            ],
        )
    # A conditional update keeps "set only once" true under concurrent uploads.
    updated = SandboxRichMenu.objects.filter(pk=menu.pk, image__isnull=True).update(
        image=data, image_content_type=content_type
    )
    if not updated:
        raise LineApiError(400, "An image has already been uploaded to the richmenu")
    return {}


def rich_menu_image_get(rich_menu_id: str) -> tuple[bytes, str]:
    menu = _rich_menu(rich_menu_id)
    if menu.image is None:
        raise not_found()
    return bytes(menu.image), menu.image_content_type


def default_rich_menu_set(rich_menu_id: str) -> dict:
    menu = _rich_menu(rich_menu_id)
    if not menu.has_image:
        raise _richmenu_image_required()
    with transaction.atomic():
        SandboxRichMenu.objects.filter(is_default=True).exclude(pk=menu.pk).update(is_default=False)
        SandboxRichMenu.objects.filter(pk=menu.pk).update(is_default=True)
        SandboxUser.objects.filter(switched_rich_menu__isnull=False).update(switched_rich_menu=None)
    return {}


def default_rich_menu_get() -> dict:
    menu = SandboxRichMenu.objects.filter(is_default=True).first()
    if menu is None:
        raise LineApiError(404, "no default richmenu", [])
    return {"richMenuId": menu.rich_menu_id}


def default_rich_menu_clear() -> dict:
    with transaction.atomic():
        SandboxRichMenu.objects.filter(is_default=True).update(is_default=False)
        SandboxUser.objects.filter(switched_rich_menu__isnull=False).update(switched_rich_menu=None)
    return {}


def user_rich_menu_link(user_id: str, rich_menu_id: str) -> dict:
    _user_id_check(user_id)
    menu = _rich_menu(rich_menu_id)
    if not menu.has_image:
        raise _richmenu_image_required()
    # Non-friends get 200 and no link, as on LINE.
    SandboxUser.objects.filter(user_id=user_id, friend_status=FriendStatus.FRIEND).update(
        rich_menu=menu, switched_rich_menu=None
    )
    return {}


def user_rich_menu_unlink(user_id: str) -> dict:
    _user_id_check(user_id)
    SandboxUser.objects.filter(user_id=user_id, friend_status=FriendStatus.FRIEND).update(
        rich_menu=None, switched_rich_menu=None
    )
    return {}


def user_rich_menu_get(user_id: str) -> dict:
    _user_id_check(user_id)
    user = (
        SandboxUser.objects.select_related("rich_menu")
        .filter(user_id=user_id, friend_status=FriendStatus.FRIEND)
        .first()
    )
    if user is None or user.rich_menu is None:
        raise LineApiError(404, "the user has no richmenu", [])
    return {"richMenuId": user.rich_menu.rich_menu_id}


def _user_ids_check(body: dict) -> list[str]:
    user_ids = body.get("userIds")
    if user_ids is None:
        raise invalid_body([{"message": "must be specified", "property": "userIds"}])
    if not isinstance(user_ids, list) or not 1 <= len(user_ids) <= BULK_LINK_MAX_USERS:
        raise invalid_body(
            [
                {
                    "message": f"Size must be between 1 and {BULK_LINK_MAX_USERS}",
                    "property": "userIds",
                }
            ]
        )
    for i, user_id in enumerate(user_ids):
        if not isinstance(user_id, str) or not USER_ID_RE.match(user_id):
            raise _property_invalid(f"'userIds[{i}]'")
    return user_ids


def rich_menu_bulk_link(body: dict) -> dict:
    """Link one menu to ≤ 500 users. LINE does it in the background; the sandbox at once."""
    rich_menu_id = body.get("richMenuId")
    if not isinstance(rich_menu_id, str) or not RICH_MENU_ID_RE.match(rich_menu_id):
        raise invalid_body([{"message": "invalid richMenuId", "property": "richMenuId"}])
    user_ids = _user_ids_check(body)
    menu = SandboxRichMenu.objects.filter(rich_menu_id=rich_menu_id).first()
    if menu is None:
        raise LineApiError(404, "richmenu not found", [])
    if not menu.has_image:
        raise _richmenu_image_required()
    SandboxUser.objects.filter(user_id__in=user_ids, friend_status=FriendStatus.FRIEND).update(
        rich_menu=menu, switched_rich_menu=None
    )
    return {}


def rich_menu_bulk_unlink(body: dict) -> dict:
    user_ids = _user_ids_check(body)
    SandboxUser.objects.filter(user_id__in=user_ids, friend_status=FriendStatus.FRIEND).update(
        rich_menu=None, switched_rich_menu=None
    )
    return {}


# --- rich menu aliases ---------------------------------------------------------------------
def _alias(alias_id: str) -> SandboxRichMenuAlias:
    alias = SandboxRichMenuAlias.objects.filter(alias_id=alias_id).first()
    if alias is None:
        raise LineApiError(404, "richmenu alias not found", [])
    return alias


def _alias_target_check(body: dict, details: list[dict[str, str]]) -> str:
    rich_menu_id = body.get("richMenuId")
    if not isinstance(rich_menu_id, str) or not RICH_MENU_ID_RE.match(rich_menu_id):
        details.append({"message": "invalid richMenuId", "property": "richMenuId"})
    if details:
        raise invalid_body(details)
    assert isinstance(rich_menu_id, str)
    menu = SandboxRichMenu.objects.filter(rich_menu_id=rich_menu_id).first()
    if menu is None or not menu.has_image:
        raise LineApiError(400, "richmenu not found", [])
    return rich_menu_id


def rich_menu_alias_create(body: dict) -> dict:
    details = []
    alias_id = body.get("richMenuAliasId")
    if not isinstance(alias_id, str) or not RICH_MENU_ALIAS_ID_RE.match(alias_id):
        details.append({"message": "invalid richMenuAliasId", "property": "richMenuAliasId"})
    rich_menu_id = _alias_target_check(body, details)
    assert isinstance(alias_id, str)
    if SandboxRichMenuAlias.objects.filter(alias_id=alias_id).exists():
        raise LineApiError(400, "conflict richmenu alias id", [])
    if SandboxRichMenuAlias.objects.count() >= MAX_RICH_MENU_ALIASES:
        # Sandbox wording: the limit is documented, the message is not.
        raise LineApiError(400, "The maximum number of rich menu aliases has been reached (1000)")
    try:
        with transaction.atomic():
            SandboxRichMenuAlias.objects.create(alias_id=alias_id, rich_menu_id=rich_menu_id)
    except IntegrityError as exc:
        raise LineApiError(400, "conflict richmenu alias id", []) from exc
    return {}


def rich_menu_alias_update(alias_id: str, body: dict) -> dict:
    alias = _alias(alias_id)
    alias.rich_menu_id = _alias_target_check(body, [])
    alias.save(update_fields=["rich_menu_id", "updated_at"])
    return {}


def rich_menu_alias_get(alias_id: str) -> dict:
    alias = _alias(alias_id)
    return {"richMenuAliasId": alias.alias_id, "richMenuId": alias.rich_menu_id}


def rich_menu_alias_delete(alias_id: str) -> dict:
    _alias(alias_id).delete()
    return {}


def rich_menu_alias_list() -> dict:
    return {
        "aliases": [
            {"richMenuAliasId": a.alias_id, "richMenuId": a.rich_menu_id}
            for a in SandboxRichMenuAlias.objects.all()
        ]
    }
