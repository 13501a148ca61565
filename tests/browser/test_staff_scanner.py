"""The staff scanner in a real browser (Chromium) against a live server.

A cashier logs in, "scans" the member's LINE card code the way a USB scanner does (it types
into the focused field and presses Enter) or with the camera (Chromium's fake camera
playing a video of the QR code), records a sale and refunds it by receipt number.
"""

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
import qrcode
import zxingcpp
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from PIL import Image

from membership.services.card_codes import card_code_issue
from pos_bridge.models import Purchase, Refund
from pos_bridge.services.staff import staff_member_create
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def site(live_server, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return live_server


@pytest.fixture
def cashier(store):
    user = get_user_model().objects.create_user(username="tanaka", password=PASSWORD)
    staff_member_create(user=user, store=store)
    return user


def log_in(page, site) -> None:
    page.goto(f"{site.url}/staff/")
    page.wait_for_url("**/staff/login/**")
    page.fill("#id_username", "tanaka")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/staff/")


def wedge_scan(page, text: str) -> None:
    """What a USB barcode scanner does: type into the focused field, then Enter."""
    assert page.evaluate("document.activeElement && document.activeElement.name") == "card"
    page.keyboard.type(text, delay=5)
    page.keyboard.press("Enter")


def snap(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"staff_{name}.png"), full_page=True)


def test_cashier_scans_a_card_code_records_a_sale_and_refunds_it(
    page, site, cashier, make_member, tiers
):
    member = make_member(points=500, name="佐藤 花子", tier=tiers["silver"])
    log_in(page, site)
    snap(page, "1_scanner")

    wedge_scan(page, card_code_issue(member=member).code)
    page.wait_for_selector("#member")
    assert "佐藤 花子" in page.inner_text("#member")
    assert "シルバー" in page.inner_text("#member")
    assert "ポイントを利用できます" in page.inner_text("#member")
    page.fill("#id_total", "1500")
    page.fill("#id_points_to_redeem", "300")
    snap(page, "2_checkout")
    page.click("#purchase-submit")

    page.wait_for_selector("#receipt-number")
    receipt = page.inner_text("#receipt-number")
    assert page.inner_text("#points-redeemed") == "300 pt"
    # (1500 − 300) // 100 × 150 % (silver)
    assert page.inner_text("#points-earned") == "+18 pt"
    assert page.inner_text("#points-balance") == "218 pt"
    snap(page, "3_purchase_done")
    purchase = Purchase.objects.get()
    assert purchase.receipt_number == receipt and purchase.recorded_by == cashier

    page.click("nav >> text=返品")
    page.fill("#id_receipt", receipt)
    page.click("#receipt-search button")
    page.wait_for_selector("#refund-form")
    assert page.input_value("#id_amount") == "1500"
    page.click("#refund-submit")
    page.wait_for_selector("#refund-receipt-number")
    assert page.inner_text("#points-restored") == "+300 pt"
    assert page.inner_text("#points-reversed") == "−18 pt"
    assert page.inner_text("#points-balance") == "500 pt"
    refund = Refund.objects.get()
    assert refund.amount == 1500 and refund.recorded_by == cashier
    member.refresh_from_db()
    assert member.points_balance == 500


def test_card_number_earns_but_offers_no_points_to_spend(page, site, cashier, make_member):
    member = make_member(points=500)
    log_in(page, site)
    wedge_scan(page, member.card_number)
    page.wait_for_selector("#member")
    assert "ポイントの付与のみできます" in page.inner_text("#member")
    assert page.locator("#id_points_to_redeem").count() == 0
    page.fill("#id_total", "2000")
    page.click("#purchase-submit")
    assert page.wait_for_selector("#points-earned").inner_text() == "+20 pt"


def test_double_click_on_submit_records_one_purchase(page, site, cashier, make_member):
    member = make_member()
    log_in(page, site)
    wedge_scan(page, member.card_number)
    page.fill("#id_total", "3000")
    page.dblclick("#purchase-submit")
    page.wait_for_selector("#receipt-number")
    assert Purchase.objects.count() == 1
    member.refresh_from_db()
    assert member.points_balance == 30


# Two requests in parallel: SQLite's shared in-memory test database refuses concurrent
# transactions ("database table is locked") instead of queueing them.
@pytest.mark.postgres
def test_two_posts_of_one_form_record_one_purchase_even_without_the_page_guard(
    page, site, cashier, make_member
):
    """The server's guarantee, with the browser's one-submit guard bypassed: the same form
    posted twice at once (a flaky network resending, a second tab) records one sale."""
    member = make_member()
    log_in(page, site)
    wedge_scan(page, member.card_number)
    page.fill("#id_total", "4000")
    statuses_and_receipts = page.evaluate(
        """async () => {
            const form = document.getElementById("purchase-form");
            const receipt = (html) => html.match(/id="receipt-number">([^<]+)</)?.[1];
            const send = () => fetch(form.action, {method: "POST", body: new FormData(form)})
                .then(async (r) => [r.status, receipt(await r.text())]);
            return Promise.all([send(), send()]);
        }"""
    )
    assert Purchase.objects.count() == 1
    receipt = Purchase.objects.get().receipt_number
    assert statuses_and_receipts == [[200, receipt], [200, receipt]]


# --- The camera --------------------------------------------------------------


def _y4m_of_qr(text: str, path: Path, *, width: int = 640, height: int = 480) -> None:
    """A short grey-scale Y4M video of a QR code, for Chromium's fake camera."""
    qr = qrcode.make(text, box_size=8, border=4).convert("L")
    side = min(width, height) - 40
    frame = Image.new("L", (width, height), 255)
    frame.paste(
        qr.resize((side, side), Image.Resampling.NEAREST),
        ((width - side) // 2, (height - side) // 2),
    )
    # The test pattern must itself be readable, or a failure would blame the page.
    assert [b.text for b in zxingcpp.read_barcodes(frame)] == [text]
    luma = frame.tobytes()
    chroma = bytes([128]) * (width // 2 * height // 2)
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            video.write(b"FRAME\n" + luma + chroma + chroma)


@pytest.fixture
def camera_browser(browser, tmp_path) -> Iterator:
    """A second Chromium whose camera films a file (a launch flag, so not the shared one);
    started through the shared browser's Playwright."""
    video = tmp_path / "camera.y4m"
    launched = []

    def launch(code: str):
        _y4m_of_qr(code, video)
        launched.append(
            browser.browser_type.launch(
                executable_path=CHROMIUM,
                args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"],
            )
        )
        return launched[-1]

    yield launch
    for instance in launched:
        instance.close()


def test_cashier_scans_the_card_with_the_camera(camera_browser, site, cashier, make_member):
    if finders.find("staff/dist/camera.js") is None:
        pytest.skip("needs the camera bundle: run `npm ci && npm run build` (make setup does)")
    member = make_member(points=500, name="高橋 健")
    browser = camera_browser(card_code_issue(member=member).code)
    context = browser.new_context(
        viewport={"width": 768, "height": 1024}, locale="ja-JP", permissions=["camera"]
    )
    page = context.new_page()
    try:
        log_in(page, site)
        page.click("[data-camera-start]")
        # The camera decodes the QR and submits the scan form by itself.
        page.wait_for_selector("#member", timeout=15_000)
        assert "高橋 健" in page.inner_text("#member")
        assert "ポイントを利用できます" in page.inner_text("#member")
        page.fill("#id_total", "1000")
        page.fill("#id_points_to_redeem", "100")
        page.click("#purchase-submit")
        assert page.wait_for_selector("#points-redeemed").inner_text() == "100 pt"
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "staff_camera_scan.png"), full_page=True)
        context.close()
    assert Purchase.objects.get().identified_by == "card_code"


def test_scanner_page_shows_the_time_left_on_a_card_code(page, site, cashier, make_member):
    member = make_member(points=100)
    log_in(page, site)
    wedge_scan(page, card_code_issue(member=member).code)
    countdown = page.wait_for_selector("[data-expires-at]")
    assert "コードの有効期限まであと" in countdown.inner_text()
    left = int("".join(ch for ch in countdown.inner_text() if ch.isdigit()))
    assert 0 < left <= 60
    assert datetime.timedelta(seconds=left) <= datetime.timedelta(minutes=1)
