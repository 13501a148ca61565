"""Password guessing is slowed down for every login form (admin, HQ, staff scanner).

Failures are counted per username and per client address in a sliding window; past either
limit, ``ThrottledModelBackend`` refuses even the right password until the window has
moved on. The counts live in the database so every gunicorn worker sees the same numbers.
"""

import datetime
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from audit.models import LoginFailure

LOGIN_WINDOW = datetime.timedelta(minutes=15)
# A cashier who mistypes a few times is not locked out; a guesser gets ~10 tries per account
# and ~50 per address every 15 minutes.
FAILURES_PER_USERNAME = 10
FAILURES_PER_ADDRESS = 50


def _client_address(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def login_throttled(*, username: str, request: HttpRequest | None) -> bool:
    """True when this username or this client has failed too often lately."""
    since = timezone.now() - LOGIN_WINDOW
    recent = LoginFailure.objects.filter(attempted_at__gte=since)
    if username and recent.filter(username=username[:150]).count() >= FAILURES_PER_USERNAME:
        return True
    address = _client_address(request)
    return address is not None and recent.filter(ip=address).count() >= FAILURES_PER_ADDRESS


def login_failures_purge() -> int:
    """Forget failures older than the window (they no longer count)."""
    deleted, _ = LoginFailure.objects.filter(
        attempted_at__lt=timezone.now() - LOGIN_WINDOW
    ).delete()
    return deleted


@receiver(user_login_failed)
def _login_failure_record(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    LoginFailure.objects.create(
        username=str(credentials.get("username") or "")[:150],
        ip=_client_address(request),
        attempted_at=timezone.now(),
    )


class ThrottledModelBackend(ModelBackend):
    """Django's username/password backend, refusing logins while throttled."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if login_throttled(username=username or "", request=request):
            # PermissionDenied stops Django from trying other backends; the form shows its
            # usual "wrong username or password", which tells a guesser nothing.
            raise PermissionDenied
        return super().authenticate(request, username=username, password=password, **kwargs)
