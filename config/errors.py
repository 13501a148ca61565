"""How every API error becomes ``{"code", "message", "extra"}``. One place for all of them."""

from collections.abc import Iterable, Mapping
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from common.errors import ApplicationError, error_body

_HTTP_ERROR_CODES = {
    400: ("bad_request", "リクエストを解釈できません(JSON の形式を確認してください)。"),
    401: ("unauthorized", "認証が必要です。Authorization: Bearer <APIキー> を指定してください。"),
    403: ("forbidden", "この操作は許可されていません。"),
    404: ("not_found", "見つかりません。"),
    405: ("method_not_allowed", "このメソッドは使用できません。"),
}


def validation_error_body(errors: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    # Pydantic error dicts may carry exception objects in "ctx"; keep the serialisable part.
    details = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]
    return error_body("validation_error", "入力内容に誤りがあります。", errors=details)


def install_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(ApplicationError)
    def application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
        return api.create_response(request, exc.body(), status=exc.status)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return api.create_response(request, validation_error_body(exc.errors), status=422)

    @api.exception_handler(AuthenticationError)
    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        code, message = _HTTP_ERROR_CODES[401]
        return api.create_response(request, error_body(code, message), status=401)

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code, message = _HTTP_ERROR_CODES.get(exc.status_code, ("http_error", str(exc)))
        return api.create_response(request, error_body(code, message), status=exc.status_code)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        code, message = _HTTP_ERROR_CODES[404]
        return api.create_response(request, error_body(code, message), status=404)
