from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from common.errors import error_body


class ApiMethodNotAllowedMiddleware:
    """Give /api/ 405s the API's error body.

    django-ninja answers a wrong method with a plain-text 405 from inside its path view,
    before any exception handler can run, so the body is replaced here (Allow is kept).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 405
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            replacement = JsonResponse(
                error_body("method_not_allowed", "このメソッドは使用できません。"),
                status=405,
                json_dumps_params={"ensure_ascii": False},
            )
            if response.has_header("Allow"):
                replacement["Allow"] = response["Allow"]
            return replacement
        return response
