"""Real parallel double taps against the live server (PostgreSQL: real row locks)."""

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.test import Client

from pos_bridge.models import Purchase

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _cookie(client: httpx.Client, name: str) -> str:
    return next(cookie.value or "" for cookie in client.cookies.jar if cookie.name == name)


def _field(pattern: str, html: str) -> str:
    found = re.search(pattern, html)
    assert found is not None, pattern
    return found.group(1)


def test_eight_parallel_submits_of_one_form_record_one_purchase(
    live_server, staff_user, make_member
):
    member = make_member()
    django_client = Client()
    django_client.force_login(staff_user)
    cookies = {"sessionid": django_client.cookies["sessionid"].value}
    with httpx.Client(base_url=live_server.url, cookies=cookies, timeout=30) as browser:
        page = browser.get("/staff/").text
        token = _field(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        checkout = browser.post(
            "/staff/lookup/", data={"card": member.card_number, "csrfmiddlewaretoken": token}
        ).text
        key = _field(r'name="form_key" value="([^"]+)"', checkout)
        session_cookies = {**cookies, "csrftoken": _cookie(browser, "csrftoken")}
    form = {
        "csrfmiddlewaretoken": token,
        "card": member.card_number,
        "form_key": key,
        "total": "5000",
        "points_to_redeem": "0",
    }

    def tap(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=live_server.url, cookies=session_cookies, timeout=30) as c:
            response = c.post("/staff/purchases/", data=form)
            found = re.search(r'id="receipt-number">([^<]+)<', response.text)
            return response.status_code, found.group(1) if found else ""

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(tap, range(8)))

    assert Purchase.objects.count() == 1
    receipt = Purchase.objects.get().receipt_number
    # Every tap shows the one result (a slow first tap may leave some with "処理中").
    assert all(status in (200, 409) for status, _ in replies), replies
    assert {r for status, r in replies if status == 200} == {receipt}
    member.refresh_from_db()
    assert member.points_balance == 50
