"""QR images of card codes: SVG for the LIFF page (crisp at any size, a few kilobytes)."""

import qrcode
import qrcode.constants
from qrcode.image.svg import SvgPathImage


def card_code_qr_svg(code: str) -> str:
    """An SVG QR code of ``code`` and nothing else (no name, no card number).

    Error correction M survives a scratched phone screen; the 4-module quiet zone is part of
    the image so scanners find it on any background.
    """
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, image_factory=SvgPathImage
    )
    qr.add_data(code)
    qr.make(fit=True)
    # The page sizes the image with CSS, which overrides the SVG's millimetre size.
    return qr.make_image().to_string(encoding="unicode")
