"""Messaging API endpoints: sending messages, users, link tokens, bot info."""

from collections.abc import Callable

from django.http import HttpRequest

from line_sandbox import channel
from line_sandbox.errors import LineApiError
from line_sandbox.views.base import LineReply, json_body, line_endpoint, request_id_of


def _send_with_optional_retry_key(
    request: HttpRequest, endpoint: str, send: Callable[[], dict]
) -> dict:
    header = request.headers.get("X-Line-Retry-Key")
    if header is None:
        return send()
    return channel.retry_key_run(
        channel.retry_key_normalize(header),
        endpoint=endpoint,
        request_id=request_id_of(request),
        send=send,
    )


@line_endpoint(methods=("POST",))
def reply(request: HttpRequest) -> dict:
    return channel.reply_send(json_body(request), request_id=request_id_of(request))


@line_endpoint(methods=("POST",), retry_key=True)
def push(request: HttpRequest) -> dict:
    body = json_body(request)
    return _send_with_optional_retry_key(
        request, "push", lambda: channel.push_send(body, request_id=request_id_of(request))
    )


@line_endpoint(methods=("POST",), retry_key=True)
def multicast(request: HttpRequest) -> dict:
    channel.multicast_rate_check()
    body = json_body(request)
    return _send_with_optional_retry_key(
        request,
        "multicast",
        lambda: channel.multicast_send(body, request_id=request_id_of(request)),
    )


@line_endpoint(methods=("POST",), retry_key=True)
def broadcast(request: HttpRequest) -> dict:
    body = json_body(request)
    return _send_with_optional_retry_key(
        request,
        "broadcast",
        lambda: channel.broadcast_send(body, request_id=request_id_of(request)),
    )


@line_endpoint(methods=("POST",), retry_key=True)
def narrowcast(request: HttpRequest) -> LineReply:
    """Narrowcast without filters or audiences: every friend gets it. LINE answers 202."""
    body = json_body(request)
    result = _send_with_optional_retry_key(
        request,
        "narrowcast",
        lambda: channel.broadcast_send(
            body, request_id=request_id_of(request), source="narrowcast"
        ),
    )
    return LineReply(result, status=202)


@line_endpoint(methods=("POST",))
def validate_messages(request: HttpRequest, kind: str) -> dict:
    return channel.messages_check(json_body(request))


@line_endpoint(methods=("GET",))
def profile(request: HttpRequest, user_id: str) -> dict:
    return channel.profile_get(user_id)


@line_endpoint(methods=("GET",))
def followers_ids(request: HttpRequest) -> dict:
    try:
        limit = int(request.GET.get("limit", "300"))
    except ValueError as exc:
        raise LineApiError(400, "The value for the 'limit' parameter is invalid") from exc
    return channel.followers_ids(limit=limit, start=request.GET.get("start"))


@line_endpoint(methods=("GET",))
def bot_info(request: HttpRequest) -> dict:
    return channel.bot_info()


@line_endpoint(methods=("POST",))
def link_token(request: HttpRequest, user_id: str) -> dict:
    return channel.link_token_issue(user_id)


@line_endpoint(methods=("GET", "POST", "PUT", "DELETE", "PATCH"))
def unknown(request: HttpRequest, rest: str = "") -> dict:
    raise LineApiError(404, "Not found")
