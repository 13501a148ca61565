"""The in-store poster prints as one A4 page whose QR code still reads on paper size."""

import re

import pytest
import zxingcpp
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from PIL import Image

from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hq_page(browser, live_server, settings):
    settings.LIFF_ID = "1650000000-AbCdEfGh"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_user(username="hq", password="pw-hq-1234", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="hq_admin")[0])
    # A4 at 96 dpi: what the page looks like before printing.
    context = browser.new_context(viewport={"width": 900, "height": 1200}, locale="ja-JP")
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/hq/stores/")
    page.fill("#id_username", "hq")
    page.fill("#id_password", "pw-hq-1234")
    page.click("input[type=submit]")
    page.wait_for_url("**/hq/stores/")
    yield page
    context.close()


def test_poster_prints_on_one_a4_page_with_a_readable_qr(hq_page, live_server, store):
    hq_page.goto(f"{live_server.url}/hq/stores/")
    hq_page.click(f"a[href='/hq/stores/{store.code}/poster']")
    poster = hq_page.wait_for_selector("#poster")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "hq_poster.png"
    poster.screenshot(path=str(shot))
    assert [b.text for b in zxingcpp.read_barcodes(Image.open(shot))] == [
        f"https://liff.line.me/1650000000-AbCdEfGh/?store={store.code}"
    ]

    pdf = hq_page.pdf(prefer_css_page_size=True, print_background=True)
    (SCREENSHOTS / "hq_poster.pdf").write_bytes(pdf)
    pages = re.findall(rb"/Type\s*/Page(?!s)", pdf)
    assert len(pages) == 1
    # A4 is 595 × 842 points.
    media_box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf)
    assert media_box is not None
    width, height = (float(v) for v in media_box.groups())
    assert round(width) == 595 and round(height) == 842
