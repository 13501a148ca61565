"""The LIFF member card in a real browser (Chromium) against the LINE sandbox on a live server.

The page runs exactly as in LINE, with @line/liff-mock standing in for the LINE app and the
sandbox playing LINE Login: it sends only the ID token; the server verifies it over HTTP.
The QR is read back from a screenshot with zxing-cpp and redeemed through the POS API.
"""

import io
import time

import pytest
import time_machine
import zxingcpp
from django.contrib.staticfiles import finders
from django.core.cache import cache
from PIL import Image

from line_messaging.models import LineFriend, LinkSource
from line_messaging.services.linking import link_direct
from line_sandbox import services as sandbox
from line_sandbox.models import SandboxIdToken
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import PosClient

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN_CHANNEL_ID = "1650000000"
CARD_SELECTOR = "#view-card:not([hidden]) #qr svg"
CODE_TTL = 60
# The page replaces a code when a third of its lifetime is left.
REFRESH_AFTER_MS = (CODE_TTL - CODE_TTL // 3) * 1000 + 500


@pytest.fixture
def site(live_server, settings):
    if finders.find("liff/dist/card.js") is None:
        pytest.skip("needs the LIFF bundle: run `npm ci && npm run build` (make setup does)")
    base = f"{live_server.url}/line-sandbox"
    settings.LINE_SANDBOX = True
    settings.LINE_SANDBOX_ROUTES = True
    settings.SITE_URL = live_server.url
    settings.LINE_API_BASE_URL = f"{base}/api"
    settings.LINE_API_DATA_BASE_URL = f"{base}/api-data"
    settings.LINE_ACCESS_BASE_URL = f"{base}/access"
    settings.LINE_LOGIN_CHANNEL_ID = LOGIN_CHANNEL_ID
    settings.LIFF_ID = "1650000000-sandbox"
    settings.LINE_LINK_BONUS_POINTS = 200
    settings.CARD_CODE_TTL_SECONDS = CODE_TTL
    cache.clear()
    yield live_server
    cache.clear()


def card_url(site, user_id: str, query: str = "") -> str:
    """What the chat simulator opens for https://liff.line.me/{LIFF_ID}{query}."""
    return f"{site.url}/liff/{query}#id_token={sandbox.id_token_issue(user_id)}"


def qr_text(page, name: str) -> str:
    """Decode the QR code on screen, as the till's scanner would."""
    png = page.locator("#qr").screenshot()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(png)
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "no QR code found on the card"
    return results[0].text


def wait_for_new_qr(page, old_svg: str) -> None:
    page.wait_for_function(
        "old => { const svg = document.querySelector('#qr').innerHTML; "
        "return svg && svg !== old; }",
        arg=old_svg,
    )


@pytest.fixture
def shopper(site, make_member):
    member = make_member(name="山田 花子", points=500)
    user_id = sandbox.user_create("LINE 花子").user_id
    return member, user_id


def test_card_qr_is_redeemed_at_the_till_then_replaced_and_the_old_code_refused(
    page, site, shopper, pos: PosClient
):
    member, user_id = shopper
    link_direct(line_user_id=user_id, member=member)
    page.clock.install()
    page.goto(card_url(site, user_id))
    page.wait_for_selector(CARD_SELECTOR)

    assert page.locator("#member-name").inner_text() == "山田 花子 様"
    assert page.locator("#points-balance").inner_text() == "700"
    assert page.locator("#card-number").inner_text().replace(" ", "") == member.card_number
    assert "id_token" not in page.url  # credentials leave the address bar
    first = qr_text(page, "liff-card-qr-first")
    assert first.startswith("MC")

    sale = pos.purchase(total=3000, card=first, points_to_redeem=300)
    assert sale.status_code == 201, sale.content

    old_svg = page.locator("#qr").inner_html()
    page.clock.fast_forward(REFRESH_AFTER_MS)
    wait_for_new_qr(page, old_svg)
    second = qr_text(page, "liff-card-qr-second")

    assert second != first
    # The refresh also brings the sale: balance 700 - 300 used + 27 earned.
    page.wait_for_function("document.querySelector('#points-balance').textContent === '427'")
    assert "渋谷店" in page.locator("#purchases").inner_text()
    reused = pos.purchase(total=1000, card=first, points_to_redeem=100)
    assert (reused.status_code, reused.json()["code"]) == (409, "card_code_used")
    with time_machine.travel(time.time() + CODE_TTL + 1):
        late = pos.purchase(total=1000, card=second, points_to_redeem=100)
    assert (late.status_code, late.json()["code"]) == (409, "card_code_expired")


def test_unlinked_user_links_from_the_card_page_then_unlinks(
    page, site, shopper, store, pos: PosClient
):
    member, user_id = shopper
    page.goto(card_url(site, user_id, f"?store={store.code}"))
    page.wait_for_selector("#view-link:not([hidden])")

    page.fill("#existing-card-number", member.card_number)
    page.fill("#existing-birth-date", "1990-04-01")
    page.click("#form-existing button[type=submit]")
    page.wait_for_selector(CARD_SELECTOR)

    assert "200pt" in page.locator("#notice").inner_text()
    assert page.locator("#points-balance").inner_text() == "700"
    friend = LineFriend.objects.get(user_id=user_id)
    assert (friend.member, friend.link_source, friend.acquired_store) == (
        member,
        LinkSource.POSTER,
        store,
    )
    resolved = pos.post("/cards/resolve", {"card": qr_text(page, "liff-card-qr-after-link")})
    assert resolved.json()["card_number"] == member.card_number

    page.click("#unlink-open")
    page.click("#unlink-confirm")
    page.wait_for_selector("#view-link:not([hidden])")
    assert "解除しました" in page.locator("#link-notice").inner_text()
    friend.refresh_from_db()
    assert friend.member is None


def test_wrong_birth_date_shows_the_generic_error(page, site, shopper):
    member, user_id = shopper
    page.goto(card_url(site, user_id))
    page.wait_for_selector("#view-link:not([hidden])")

    page.fill("#existing-card-number", member.card_number)
    page.fill("#existing-birth-date", "1999-01-01")
    page.click("#form-existing button[type=submit]")

    page.wait_for_selector("#link-error:not([hidden])")
    assert "正しくありません" in page.locator("#link-error").inner_text()


def test_id_token_expiring_mid_session_logs_in_again_and_the_card_keeps_working(
    page, site, shopper
):
    member, user_id = shopper
    link_direct(line_user_id=user_id, member=member)
    page.clock.install()
    page.goto(card_url(site, user_id))
    page.wait_for_selector(CARD_SELECTOR)
    before = qr_text(page, "liff-card-qr-before-expiry")
    old_svg = page.locator("#qr").inner_html()

    # An hour later the page's ID token has expired; the next code refresh gets 401.
    with time_machine.travel(time.time() + 3600 + 5, tick=True):
        page.clock.fast_forward(REFRESH_AFTER_MS)
        wait_for_new_qr(page, old_svg)
        after = qr_text(page, "liff-card-qr-after-relogin")

    assert after != before
    assert page.locator("#view-error").is_hidden()
    assert page.locator("#code-warning").is_hidden()
    assert SandboxIdToken.objects.filter(user_id=user_id).count() == 2
