"""The LINE message object a broadcast sends (text, image, or a coupon-style Flex bubble).

Limits are LINE's (https://developers.line.biz/en/reference/messaging-api/#message-objects):
text ≤ 5,000 characters, image URLs HTTPS ≤ 2,000 characters, altText ≤ 400.
"""

import datetime
from typing import Any

from broadcasts.models import Broadcast, BroadcastKind

Message = dict[str, Any]

TEXT_MAX_LENGTH = 5000
URL_MAX_LENGTH = 2000
COUPON_ACCENT = "#06C755"


def _date(day: datetime.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def coupon_bubble(
    *,
    title: str,
    description: str,
    code: str,
    valid_until: datetime.date | None,
    image_url: str = "",
) -> dict[str, Any]:
    """A Flex bubble that reads like a paper coupon: image, title, text, code, expiry."""
    body: list[dict[str, Any]] = [
        {"type": "text", "text": title, "weight": "bold", "size": "xl", "wrap": True},
    ]
    if description:
        body.append(
            {
                "type": "text",
                "text": description,
                "size": "sm",
                "color": "#555555",
                "wrap": True,
                "margin": "md",
            }
        )
    body.append({"type": "separator", "margin": "lg"})
    body.append(
        {
            "type": "box",
            "layout": "vertical",
            "margin": "lg",
            "backgroundColor": "#F3FBF6",
            "cornerRadius": "md",
            "paddingAll": "md",
            "contents": [
                {"type": "text", "text": "クーポンコード", "size": "xs", "color": "#777777"},
                {
                    "type": "text",
                    "text": code,
                    "size": "xxl",
                    "weight": "bold",
                    "color": COUPON_ACCENT,
                    "align": "center",
                },
            ],
        }
    )
    if valid_until is not None:
        body.append(
            {
                "type": "text",
                "text": f"有効期限: {_date(valid_until)}まで",
                "size": "sm",
                "color": "#777777",
                "margin": "md",
            }
        )
    bubble: dict[str, Any] = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "contents": body},
    }
    if image_url:
        bubble["hero"] = {
            "type": "image",
            "url": image_url,
            "size": "full",
            "aspectRatio": "20:13",
            "aspectMode": "cover",
        }
    return bubble


def broadcast_message(broadcast: Broadcast) -> Message:
    """The one message object a broadcast (or its test send) carries."""
    if broadcast.kind == BroadcastKind.TEXT:
        return {"type": "text", "text": broadcast.text}
    if broadcast.kind == BroadcastKind.IMAGE:
        return {
            "type": "image",
            "originalContentUrl": broadcast.image_url,
            "previewImageUrl": broadcast.preview_image_url,
        }
    return {
        "type": "flex",
        "altText": f"クーポン: {broadcast.coupon_title}"[:400],
        "contents": coupon_bubble(
            title=broadcast.coupon_title,
            description=broadcast.coupon_description,
            code=broadcast.coupon_code,
            valid_until=broadcast.coupon_valid_until,
            image_url=broadcast.image_url,
        ),
    }
