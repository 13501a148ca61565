"""The one django-ninja API; each app mounts its router here."""

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import NinjaAPI
from ninja.renderers import JSONRenderer

from common.errors import error_body
from config.errors import install_error_handlers
from liff.api import router as liff_router
from pos_bridge.api import router as pos_router


class Utf8JSONRenderer(JSONRenderer):
    """JSON with Japanese left readable instead of \\u-escaped."""

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> Any:
        return json.dumps(data, cls=self.encoder_class, ensure_ascii=False)


api = NinjaAPI(
    renderer=Utf8JSONRenderer(),
    title="LINE Membership API",
    version="1",
    description="POS bridge: resolve member cards, record purchases and refunds exactly once.",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)
api.add_router("/pos/v1/", pos_router)
api.add_router("/liff/v1/", liff_router)


def api_not_found(request: HttpRequest, unmatched: str = "") -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error shape, not an HTML page."""
    return JsonResponse(
        error_body("not_found", "このAPIのURLは存在しません。", path=request.path),
        status=404,
        json_dumps_params={"ensure_ascii": False},
    )
