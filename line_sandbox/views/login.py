"""LINE Login: ``POST /oauth2/v2.1/verify`` for ID tokens."""

from django.http import HttpRequest

from line_sandbox import services
from line_sandbox.views.base import LineReply, line_endpoint


def _invalid(description: str) -> LineReply:
    return LineReply({"error": "invalid_request", "error_description": description}, status=400)


@line_endpoint(methods=("POST",), auth=False)
def verify_id_token(request: HttpRequest) -> LineReply | dict:
    """Form fields ``id_token``, ``client_id``, optional ``nonce`` and ``user_id``."""
    id_token = request.POST.get("id_token", "")
    client_id = request.POST.get("client_id", "")
    if not id_token:
        return _invalid("Invalid IdToken.")
    try:
        return services.id_token_verify(
            id_token,
            client_id,
            nonce=request.POST.get("nonce"),
            user_id=request.POST.get("user_id"),
        )
    except services.IdTokenInvalid as exc:
        return _invalid(str(exc))
