"""In-store link posters: a QR code that opens the LIFF member card tagged with the store.

The LIFF app asks the shopper to add the shop's LINE account as a friend (its bot prompt)
and then offers linking; the ``store`` parameter survives LIFF's redirect and is read after
``liff.init()``, so the link is counted for that store (LinkSource.POSTER).
https://developers.line.biz/en/tips/2026/07/16/liff-url-additional-info/
"""

import io
from urllib.parse import urlencode

import qrcode
import qrcode.constants
import qrcode.image.svg
from django.conf import settings

from common.errors import ApplicationError

LIFF_URL_BASE = "https://liff.line.me"


class LiffNotConfigured(ApplicationError):
    code = "liff_not_configured"
    status = 503
    default_message = "LIFF_ID が設定されていないため、ポスターのQRコードを作成できません。"


def poster_liff_url(*, store_code: str) -> str:
    """``https://liff.line.me/{LIFF_ID}/?store=<code>``; raises ``LiffNotConfigured``."""
    liff_id = settings.LIFF_ID
    if not liff_id:
        raise LiffNotConfigured()
    return f"{LIFF_URL_BASE}/{liff_id}/?{urlencode({'store': store_code})}"


def _qr(text: str) -> qrcode.QRCode:
    # Level Q (25 % of the code may be lost): a printed poster gets scuffed and reflects.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=4)
    code.add_data(text)
    code.make(fit=True)
    return code


def poster_qr_svg(*, text: str) -> str:
    """An SVG ``<svg>`` element (one path, scalable by CSS) encoding ``text``."""
    image = _qr(text).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode")


def poster_qr_png(*, text: str, box_size: int = 20) -> bytes:
    """A black-on-white PNG encoding ``text`` (``box_size`` pixels per module)."""
    code = _qr(text)
    code.box_size = box_size
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
