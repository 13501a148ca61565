"""The card page is a small static shell: configuration in, no personal data."""

import json
import re

import pytest
from django.test import Client


def _config(html: str) -> dict:
    match = re.search(r'<script id="liff-config" type="application/json">(.*?)</script>', html)
    assert match, html[:500]
    return json.loads(match.group(1))


@pytest.mark.django_db
def test_page_carries_the_liff_id_and_api_base(settings):
    settings.LIFF_ID = "1650000000-Prod"
    settings.LINE_SANDBOX = False

    response = Client().get("/liff/?store=shibuya")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"
    html = response.content.decode()
    assert _config(html) == {
        "liffId": "1650000000-Prod",
        "apiBase": "/api/liff/v1",
        "sandbox": False,
        "sandboxControl": "",
        "linkBonusPoints": settings.LINE_LINK_BONUS_POINTS,
    }
    assert 'lang="ja"' in html
    assert "新規会員登録" in html and "神奈川県" in html
    # The gender select starts at 未回答: the form does not answer for the shopper.
    assert re.search(r'<select id="register-gender"[^>]*>\s*<option value="">未回答', html)


@pytest.mark.django_db
def test_sandbox_mode_tells_the_page_to_mock_liff(settings):
    settings.LIFF_ID = "1650000000-sandbox"
    settings.LINE_SANDBOX = True
    settings.LINE_SANDBOX_ROUTES = True

    config = _config(Client().get("/liff/").content.decode())

    assert config["sandbox"] is True
    assert config["sandboxControl"] == "/line-sandbox/control"


@pytest.mark.django_db
def test_page_without_a_liff_id_explains_itself(settings):
    settings.LIFF_ID = ""

    html = Client().get("/liff/").content.decode()

    assert "LIFF_ID が設定されていません" in html
    assert 'type="module"' not in html
