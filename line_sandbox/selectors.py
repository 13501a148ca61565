"""Reads of sandbox state, for the chat simulator and for tests."""

from typing import Any

from django.db.models import QuerySet

from line_sandbox.models import (
    FriendStatus,
    MessageDirection,
    SandboxApiCall,
    SandboxMessage,
    SandboxRichMenu,
    SandboxUser,
    SandboxWebhookEvent,
)


def user_rich_menu_shown(user: SandboxUser) -> SandboxRichMenu | None:
    """The menu LINE shows the user: after a switch tap, else per-user link, else default."""
    if user.friend_status != FriendStatus.FRIEND:
        return None
    if user.switched_rich_menu_id is not None:
        return user.switched_rich_menu
    if user.rich_menu_id is not None:
        return user.rich_menu
    return SandboxRichMenu.objects.filter(is_default=True).first()


def messages_received(user: SandboxUser | str) -> list[dict[str, Any]]:
    """The message objects the user actually received (reply, push, multicast, ...)."""
    user_id = user.user_id if isinstance(user, SandboxUser) else user
    rows = SandboxMessage.objects.filter(
        user__user_id=user_id, direction=MessageDirection.BOT, delivered=True
    ).order_by("id")
    return [row.payload for row in rows]


def conversation(user: SandboxUser, *, after_id: int = 0, limit: int = 200) -> list[dict]:
    rows = SandboxMessage.objects.filter(user=user, id__gt=after_id).order_by("id")[:limit]
    return [
        {
            "id": row.id,
            "direction": row.direction,
            "source": row.source,
            "payload": row.payload,
            "delivered": row.delivered,
            "createdAt": row.created_at.isoformat(),
        }
        for row in rows
    ]


def api_calls(*, path: str | None = None, method: str | None = None) -> QuerySet[SandboxApiCall]:
    calls = SandboxApiCall.objects.all()
    if path is not None:
        calls = calls.filter(path=path)
    if method is not None:
        calls = calls.filter(method=method.upper())
    return calls


def webhook_events_recent(
    *, user: SandboxUser | None = None, limit: int = 30
) -> list[dict[str, Any]]:
    events = SandboxWebhookEvent.objects.order_by("-id")
    if user is not None:
        events = events.filter(user=user)
    return [
        {
            "webhookEventId": row.webhook_event_id,
            "type": row.event_type,
            "responseStatus": row.response_status,
            "deliveryCount": row.delivery_count,
            "createdAt": row.created_at.isoformat(),
        }
        for row in events[:limit]
    ]
