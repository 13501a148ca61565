"""In-store link posters: HQ staff print one per store; its QR opens the LIFF card with the
store's tag."""

import io
import re

import pytest
import zxingcpp
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from PIL import Image, ImageDraw

from pos_bridge.services.staff import staff_member_create

LIFF_ID = "1650000000-AbCdEfGh"


@pytest.fixture(autouse=True)
def liff_settings(settings):
    settings.LIFF_ID = LIFF_ID
    settings.LINE_LINK_BONUS_POINTS = 200
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def hq(db) -> Client:
    user = get_user_model().objects.create_user(username="hq", password="x", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="hq_admin")[0])
    client = Client()
    client.force_login(user)
    return client


def _decode(image: Image.Image) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def _match(pattern: str, text: str) -> re.Match[str]:
    found = re.search(pattern, text, re.S)
    assert found is not None, pattern
    return found


def _svg_to_image(svg: str, scale: int = 8) -> Image.Image:
    """Rasterise the poster's SVG QR (one path of unit squares, as qrcode writes it)."""
    width, height = (int(v) for v in _match(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())
    image = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(image)
    path = _match(r'<path d="([^"]+)"', svg).group(1)
    for x1, y1, x2, y2 in re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z", path):
        draw.rectangle(
            [int(x1) * scale, int(y1) * scale, int(x2) * scale - 1, int(y2) * scale - 1], fill=0
        )
    return image


def test_poster_page_for_hq_staff_is_a_printable_a4_page(hq, store):
    response = hq.get(f"/hq/stores/{store.code}/poster")
    assert response.status_code == 200
    body = response.content.decode()
    assert store.name in body
    assert "@page { size: A4" in body
    assert "200</strong> ポイント" in body
    assert f'data-liff-url="https://liff.line.me/{LIFF_ID}/?store={store.code}"' in body


def test_poster_qr_on_the_page_decodes_to_the_liff_url_with_the_store(hq, store):
    body = hq.get(f"/hq/stores/{store.code}/poster").content.decode()
    svg = _match(r"<svg.*?</svg>", body).group(0)
    assert _decode(_svg_to_image(svg)) == [f"https://liff.line.me/{LIFF_ID}/?store={store.code}"]


def test_poster_png_decodes_to_the_liff_url_with_the_store(hq, store):
    response = hq.get(f"/hq/stores/{store.code}/poster.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert _decode(image) == [f"https://liff.line.me/{LIFF_ID}/?store={store.code}"]


def test_each_store_gets_its_own_tag(hq, store, other_store):
    for s in (store, other_store):
        image = Image.open(io.BytesIO(hq.get(f"/hq/stores/{s.code}/poster.png").content))
        assert _decode(image) == [f"https://liff.line.me/{LIFF_ID}/?store={s.code}"]


def test_poster_without_bonus_leaves_the_bonus_out(hq, store, settings):
    settings.LINE_LINK_BONUS_POINTS = 0
    body = hq.get(f"/hq/stores/{store.code}/poster").content.decode()
    assert "ポイント プレゼント" not in body and "1回限り" not in body


def test_poster_without_a_liff_id_says_so(hq, store, settings):
    settings.LIFF_ID = ""
    response = hq.get(f"/hq/stores/{store.code}/poster")
    assert response.status_code == 503
    assert "LIFF_ID が設定されていない" in response.content.decode()
    assert hq.get(f"/hq/stores/{store.code}/poster.png").status_code == 503


def test_unknown_store_is_404(hq, db):
    assert hq.get("/hq/stores/nowhere/poster").status_code == 404
    assert hq.get("/hq/stores/nowhere/poster.png").status_code == 404


def test_store_index_links_every_stores_poster(hq, store, other_store):
    body = hq.get("/hq/stores/").content.decode()
    for s in (store, other_store):
        assert f"/hq/stores/{s.code}/poster" in body and s.name in body


@pytest.mark.parametrize(
    "path", ["/hq/stores/", "/hq/stores/shibuya/poster", "/hq/stores/shibuya/poster.png"]
)
def test_anonymous_visitors_are_sent_to_the_admin_login(store, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    "path", ["/hq/stores/", "/hq/stores/shibuya/poster", "/hq/stores/shibuya/poster.png"]
)
def test_store_staff_cannot_open_hq_pages(store, path):
    user = get_user_model().objects.create_user(username="clerk", password="x")
    staff_member_create(user=user, store=store)
    client = Client()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 403
