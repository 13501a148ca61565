"""The chat simulator page and the JSON controls behind it (``/line-sandbox/control/…``)."""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from line_sandbox import selectors, services
from line_sandbox.errors import SandboxStateError
from line_sandbox.models import SandboxFault, SandboxRichMenu, SandboxUser, SandboxWebhookEvent

ControlView = Callable[..., dict[str, Any] | HttpResponse]


def _json(data: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


def control_endpoint(*methods: str) -> Callable[[ControlView], Callable[..., HttpResponse]]:
    """JSON in, JSON out; state errors answer 409 with ``{"error": message}``."""

    def decorator(view: ControlView) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = _json({"error": "Method Not Allowed"}, status=405)
                response["Allow"] = ", ".join(methods)
                return response
            try:
                result = view(request, **kwargs)
            except SandboxStateError as exc:
                return _json({"error": str(exc)}, status=409)
            except (SandboxUser.DoesNotExist, SandboxWebhookEvent.DoesNotExist):
                return _json({"error": "見つかりません。"}, status=404)
            except ValueError as exc:
                return _json({"error": str(exc)}, status=400)
            return result if isinstance(result, HttpResponse) else _json(result)

        return wrapped

    return decorator


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError("JSON を送ってください。") from exc
    if not isinstance(data, dict):
        raise ValueError("JSON オブジェクトを送ってください。")
    return data


def _user_summary(user: SandboxUser) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "displayName": user.display_name,
        "friendStatus": user.friend_status,
    }


@require_GET
def simulator_page(request: HttpRequest) -> HttpResponse:
    config = {
        "controlRoot": reverse("line_sandbox:control_users").rsplit("users", 1)[0],
        "initialUserId": request.GET.get("user", ""),
        "webhookUrl": settings.LINE_SANDBOX_WEBHOOK_URL,
        "pollMs": 1500,
    }
    return render(request, "line_sandbox/simulator.html", {"config": config})


@control_endpoint("GET", "POST")
def users(request: HttpRequest) -> dict[str, Any]:
    if request.method == "POST":
        user = services.user_create(str(_body(request).get("displayName", "")))
        return {"user": _user_summary(user)}
    return {"users": [_user_summary(u) for u in SandboxUser.objects.order_by("-id")]}


@control_endpoint("POST")
def user_follow(request: HttpRequest, user_id: str) -> dict[str, Any]:
    return {"webhookStatus": services.user_follow(user_id)}


@control_endpoint("POST")
def user_unfollow(request: HttpRequest, user_id: str) -> dict[str, Any]:
    return {"webhookStatus": services.user_unfollow(user_id)}


@control_endpoint("POST")
def user_text(request: HttpRequest, user_id: str) -> dict[str, Any]:
    return {"webhookStatus": services.user_send_text(user_id, str(_body(request).get("text", "")))}


@control_endpoint("POST")
def user_action(request: HttpRequest, user_id: str) -> dict[str, Any]:
    action = _body(request).get("action")
    if not isinstance(action, dict):
        raise ValueError("action を指定してください。")
    return services.user_action_perform(user_id, action)


@control_endpoint("GET")
def user_state(request: HttpRequest, user_id: str) -> dict[str, Any]:
    """The chat since ``after`` plus the rich menu shown now (polled by the page)."""
    user = SandboxUser.objects.select_related("rich_menu", "switched_rich_menu").get(
        user_id=user_id
    )
    try:
        after = int(request.GET.get("after", "0"))
    except ValueError:
        after = 0
    menu = selectors.user_rich_menu_shown(user)
    rich_menu = None
    if menu is not None:
        rich_menu = {
            **menu.as_line_dict(),
            "imageUrl": reverse("line_sandbox:control_rich_menu_image", args=[menu.rich_menu_id]),
        }
    return {
        "user": _user_summary(user),
        "messages": selectors.conversation(user, after_id=after),
        "richMenu": rich_menu,
        "events": selectors.webhook_events_recent(user=user, limit=10),
    }


@control_endpoint("POST")
def user_id_token(request: HttpRequest, user_id: str) -> dict[str, Any]:
    user = services.user_get(user_id)
    return {"idToken": services.id_token_issue(user.user_id)}


@control_endpoint("GET")
def rich_menu_image(request: HttpRequest, rich_menu_id: str) -> HttpResponse:
    menu = SandboxRichMenu.objects.filter(rich_menu_id=rich_menu_id).first()
    if menu is None or menu.image is None:
        return _json({"error": "見つかりません。"}, status=404)
    return HttpResponse(bytes(menu.image), content_type=menu.image_content_type)


@control_endpoint("POST")
def event_redeliver(request: HttpRequest, event_id: str) -> dict[str, Any]:
    return {"webhookStatus": services.event_redeliver(event_id)}


@control_endpoint("GET", "POST", "DELETE")
def faults(request: HttpRequest) -> dict[str, Any]:
    if request.method == "POST":
        body = _body(request)
        status = body.get("status")
        count = body.get("count")
        services.fault_set(
            status=int(status) if status not in (None, "") else None,
            count=int(count) if count not in (None, "") else None,
            path_prefix=str(body.get("pathPrefix", "")),
            latency_ms=int(body.get("latencyMs") or 0),
        )
    elif request.method == "DELETE":
        services.fault_clear()
    return {
        "faults": [
            {
                "status": f.status,
                "remaining": f.remaining,
                "pathPrefix": f.path_prefix,
                "latencyMs": f.latency_ms,
            }
            for f in SandboxFault.objects.order_by("id")
        ]
    }
