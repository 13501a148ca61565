"""The LIFF card API against the LINE sandbox on a live server: ID tokens are issued by the
sandbox and verified over real HTTP, exactly as in production against LINE."""

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from line_sandbox import services as sandbox
from membership.models import Member

LOGIN_CHANNEL_ID = "1650000000"
LIFF_ID = "1650000000-TestLiff"
BIRTH = datetime.date(1990, 4, 1)


@pytest.fixture
def liff_line(live_server, settings, transactional_db):
    """Point LINE Login at the sandbox on the live server (the sandbox needs committed rows,
    hence a transactional database)."""
    base = f"{live_server.url}/line-sandbox"
    settings.SITE_URL = live_server.url
    settings.LINE_API_BASE_URL = f"{base}/api"
    settings.LINE_API_DATA_BASE_URL = f"{base}/api-data"
    settings.LINE_ACCESS_BASE_URL = f"{base}/access"
    settings.LINE_LOGIN_CHANNEL_ID = LOGIN_CHANNEL_ID
    settings.LIFF_ID = LIFF_ID
    settings.LINE_CHANNEL_ACCESS_TOKEN = "sandbox-channel-access-token"
    settings.LINE_LINK_BONUS_POINTS = 200
    settings.LINE_BACKOFF_SCALE = 0
    cache.clear()
    yield live_server
    cache.clear()


class LiffClient:
    """The LIFF API over Django's test client, as the page calls it: bearer ID token only."""

    def __init__(self, id_token: str | None) -> None:
        self.client = Client()
        self.id_token = id_token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.id_token}"} if self.id_token else {}

    def get(self, path: str, **params: Any):
        return self.client.get(f"/api/liff/v1{path}", params, headers=self._headers())

    def post(self, path: str, body: Any = None):
        return self.client.post(
            f"/api/liff/v1{path}",
            data=body if body is not None else {},
            content_type="application/json",
            headers=self._headers(),
        )

    def card(self) -> dict[str, Any]:
        response = self.get("/card")
        assert response.status_code == 200, response.content.decode()
        return response.json()

    def link(self, card_number: str, birth_date: str = "1990-04-01", **extra: Any):
        return self.post("/link", {"card_number": card_number, "birth_date": birth_date, **extra})


@pytest.fixture
def line_user(liff_line) -> Callable[..., str]:
    """A new sandbox LINE user; returns the user ID."""

    def make(name: str = "LINE 花子") -> str:
        return sandbox.user_create(name).user_id

    return make


@pytest.fixture
def liff_client(liff_line) -> Callable[..., LiffClient]:
    """A LIFF client holding a fresh sandbox ID token for the user."""

    def make(user_id: str, *, expires_in: int = 3600) -> LiffClient:
        return LiffClient(sandbox.id_token_issue(user_id, expires_in=expires_in))

    return make


@pytest.fixture
def member(make_member, liff_line) -> Member:
    return make_member(birth_date=BIRTH, name="山田 花子", points=300)
