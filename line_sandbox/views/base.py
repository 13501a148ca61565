"""What every sandbox LINE API endpoint does around its own work.

``line_endpoint`` gives each call a ``x-line-request-id``, checks the Bearer channel access
token (401 with LINE's body otherwise), applies injected faults, turns ``LineApiError`` into
LINE's error body, and logs the call as a ``SandboxApiCall``.
"""

import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from line_sandbox import services
from line_sandbox.errors import LineApiError
from line_sandbox.identifiers import request_id_new
from line_sandbox.models import SandboxApiCall

LOGGED_BODY_MAX_CHARS = 20_000
_LINE_PATH_RE = re.compile(r"/(?:v2|oauth2)/.*$")


@dataclass
class LineReply:
    body: dict[str, Any] | bytes
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., LineReply | dict[str, Any]]


def request_id_of(request: HttpRequest) -> str:
    """The ``x-line-request-id`` this call answers with."""
    return str(getattr(request, "line_request_id", ""))


def line_path(request: HttpRequest) -> str:
    """The LINE path of a sandbox URL: ``/line-sandbox/api/v2/bot/x`` → ``/v2/bot/x``."""
    match = _LINE_PATH_RE.search(request.path)
    return match.group(0) if match else request.path


def _authenticate(request: HttpRequest) -> None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise LineApiError(
            401,
            "Authorization header required. Must follow the scheme, "
            "'Authorization: Bearer <ACCESS TOKEN>'",
        )
    expected = settings.LINE_CHANNEL_ACCESS_TOKEN
    token = header.removeprefix("Bearer ").strip()
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise LineApiError(
            401,
            "Authentication failed due to the following reason: invalid token. "
            "Confirm that the access token in the authorization header is valid.",
        )


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or LINE's 415 / parse error."""
    if request.content_type != "application/json":
        raise LineApiError(
            415, f"The content type, {request.content_type or '-'}, is not supported"
        )
    try:
        body = json.loads(request.body or b"{}")
    except json.JSONDecodeError as exc:
        raise LineApiError(
            400,
            "The request body could not be parsed as JSON "
            f"(line: {exc.lineno}, column: {exc.colno})",
        ) from exc
    if not isinstance(body, dict):
        raise LineApiError(400, "The request body could not be parsed as JSON (line: 1, column: 1)")
    return body


def _logged_text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError:
            return f"<{len(data)} bytes>"
    return data[:LOGGED_BODY_MAX_CHARS]


def line_endpoint(
    *,
    methods: tuple[str, ...],
    host: str = "api",
    auth: bool = True,
    retry_key: bool = False,
) -> Callable[[Handler], Callable[..., HttpResponse]]:
    """Wrap a handler returning a JSON body (200) or a ``LineReply``.

    ``retry_key``: the endpoint accepts ``X-Line-Retry-Key``; elsewhere LINE rejects the
    header with 400 (https://developers.line.biz/en/docs/messaging-api/retrying-api-request/).
    """

    def decorator(handler: Handler) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            request_id = request_id_new()
            path = line_path(request)
            request.line_request_id = request_id  # type: ignore[attr-defined]
            try:
                request_body = request.body
            except RequestDataTooBig:
                request_body = b""
            try:
                reply = _run(request, handler, kwargs, path, methods, auth, retry_key)
            except LineApiError as exc:
                reply = LineReply(exc.body(), status=exc.status, headers=exc.headers)
            response = _http_response(reply, request_id)
            SandboxApiCall.objects.create(
                request_id=request_id,
                method=request.method or "",
                host=host,
                path=path[:255],
                status=reply.status,
                request_body=_logged_text(request_body),
                response_body=_logged_text(response.content),
                retry_key=request.headers.get("X-Line-Retry-Key", "")[:64],
            )
            return response

        return view

    return decorator


def _run(
    request: HttpRequest,
    handler: Handler,
    kwargs: dict[str, Any],
    path: str,
    methods: tuple[str, ...],
    auth: bool,
    retry_key: bool,
) -> LineReply:
    if request.method not in methods:
        raise LineApiError(405, "Method Not Allowed", headers={"Allow": ", ".join(methods)})
    if auth:
        _authenticate(request)
    effect = services.fault_take(path)
    if effect is not None:
        services.fault_apply_latency(effect)
        if effect.status is not None:
            raise LineApiError(effect.status, effect.message or "Injected fault")
    if "X-Line-Retry-Key" in request.headers and not retry_key:
        # Sandbox wording: LINE documents the 400, not the message.
        raise LineApiError(400, "X-Line-Retry-Key is not supported by this endpoint")
    try:
        request.body  # noqa: B018 - reading it is what raises RequestDataTooBig
    except RequestDataTooBig as exc:
        raise LineApiError(413, "Request Entity Too Large") from exc
    result = handler(request, **kwargs)
    return result if isinstance(result, LineReply) else LineReply(result)


def _http_response(reply: LineReply, request_id: str) -> HttpResponse:
    if isinstance(reply.body, bytes):
        content = reply.body
    else:
        content = json.dumps(reply.body, ensure_ascii=False).encode()
    response = HttpResponse(content, status=reply.status, content_type=reply.content_type)
    response["x-line-request-id"] = request_id
    for name, value in reply.headers.items():
        response[name] = value
    return response
