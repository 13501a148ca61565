"""Expose the caller's HQ role to every template, so the HQ navigation can follow it."""

from django.http import HttpRequest

from hq.roles import HqAccess


def hq_access(request: HttpRequest) -> dict[str, HqAccess | None]:
    # Set by ``hq_role_required``; absent on pages outside /hq/.
    return {"hq_access": getattr(request, "hq_access", None)}
