"""LINE's request-body checks for message objects, actions and rich menus.

Each checker returns LINE error details, ``[{"message": ..., "property": ...}]``; an empty list
means the object is valid. Limits follow the Messaging API reference
(https://developers.line.biz/en/reference/messaging-api/#message-objects); detail wording
follows the examples LINE documents ("must be specified", "May not be empty",
"invalid uri", ...).
"""

import re
from typing import Any

Details = list[dict[str, str]]

USER_ID_RE = re.compile(r"^U[0-9a-f]{32}$")
RICH_MENU_ID_RE = re.compile(r"^richmenu-[0-9a-f]{32}$")
RICH_MENU_ALIAS_ID_RE = re.compile(r"^[a-z0-9_-]{1,32}$")

MESSAGE_TYPES = [
    "text",
    "image",
    "video",
    "audio",
    "location",
    "sticker",
    "template",
    "imagemap",
    "flex",
    "textV2",
    "coupon",
]
URI_SCHEMES = ("http://", "https://", "line://", "tel:")
RICH_MENU_MIN_WIDTH = 800
RICH_MENU_MAX_WIDTH = 2500
RICH_MENU_MIN_HEIGHT = 250
RICH_MENU_MIN_RATIO = 1.45
RICH_MENU_MAX_AREAS = 20


def utf16_length(text: str) -> int:
    """LINE counts characters in UTF-16 code units (an emoji outside the BMP counts as 2)."""
    return len(text.encode("utf-16-le")) // 2


class _Checker:
    def __init__(self) -> None:
        self.details: Details = []

    def add(self, prop: str, message: str) -> None:
        self.details.append({"message": message, "property": prop})

    def string(
        self,
        obj: dict,
        key: str,
        prop: str,
        *,
        required: bool = True,
        max_length: int | None = None,
        allow_empty: bool = False,
    ) -> str | None:
        value = obj.get(key)
        where = f"{prop}.{key}" if prop else key
        if value is None:
            if required:
                self.add(where, "must be specified")
            return None
        if not isinstance(value, str):
            self.add(where, "must be a string")
            return None
        if value == "" and required and not allow_empty:
            self.add(where, "May not be empty")
            return None
        if max_length is not None and utf16_length(value) > max_length:
            self.add(where, f"Length must be between 0 and {max_length}")
        return value

    def url(self, obj: dict, key: str, prop: str, *, https_only: bool = True) -> None:
        value = self.string(obj, key, prop, max_length=2000)
        if value and not value.startswith("https://" if https_only else URI_SCHEMES):
            self.add(f"{prop}.{key}", "invalid uri")

    def array(
        self, obj: dict, key: str, prop: str, *, min_items: int, max_items: int
    ) -> list | None:
        value = obj.get(key)
        where = f"{prop}.{key}" if prop else key
        if value is None:
            self.add(where, "must be specified")
            return None
        if not isinstance(value, list):
            self.add(where, "must be an array")
            return None
        if not min_items <= len(value) <= max_items:
            self.add(where, f"Size must be between {min_items} and {max_items}")
            return None
        return value

    def integer(self, obj: dict, key: str, prop: str, *, minimum: int = 0) -> int | None:
        value = obj.get(key)
        where = f"{prop}.{key}" if prop else key
        if value is None:
            self.add(where, "must be specified")
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(where, "must be an integer")
            return None
        if value < minimum:
            self.add(where, f"must be greater than or equal to {minimum}")
            return None
        return value

    # --- actions ---------------------------------------------------------------------------
    def action(self, action: Any, prop: str, *, context: str) -> None:
        """``context``: template / image_carousel / richmenu / quickreply / flex / flex_button."""
        if not isinstance(action, dict):
            self.add(prop, "must be specified")
            return
        kind = action.get("type")
        allowed = ["postback", "message", "uri", "datetimepicker", "clipboard"]
        if context == "richmenu":
            allowed.append("richmenuswitch")
        if context == "quickreply":
            allowed += ["camera", "cameraRoll", "location"]
        if kind not in allowed:
            self.add(f"{prop}.type", f"Must be one of the following values: [{', '.join(allowed)}]")
            return
        label_required = context in ("template", "quickreply", "flex_button") or kind in (
            "camera",
            "cameraRoll",
            "location",
        )
        label_max = {"image_carousel": 12, "flex": 40, "flex_button": 40}.get(context, 20)
        self.string(action, "label", prop, required=label_required, max_length=label_max)
        if kind == "postback":
            self.string(action, "data", prop, max_length=300, allow_empty=True)
            self.string(action, "displayText", prop, required=False, max_length=300)
            self.string(action, "text", prop, required=False, max_length=300)
            if action.get("displayText") is not None and action.get("text") is not None:
                self.add(f"{prop}.displayText", "displayText and text can't both be specified")
        elif kind == "message":
            self.string(action, "text", prop, max_length=300)
        elif kind == "uri":
            uri = self.string(action, "uri", prop, max_length=1000)
            if uri and not uri.startswith(URI_SCHEMES):
                self.add(f"{prop}.uri", "invalid uri")
        elif kind == "datetimepicker":
            self.string(action, "data", prop, max_length=300, allow_empty=True)
            if action.get("mode") not in ("date", "time", "datetime"):
                self.add(
                    f"{prop}.mode", "Must be one of the following values: [date, time, datetime]"
                )
        elif kind == "clipboard":
            self.string(action, "clipboardText", prop, max_length=1000)
        elif kind == "richmenuswitch":
            alias = self.string(action, "richMenuAliasId", prop, max_length=32)
            if alias and not RICH_MENU_ALIAS_ID_RE.match(alias):
                self.add(f"{prop}.richMenuAliasId", "invalid richMenuAliasId")
            self.string(action, "data", prop, max_length=300, allow_empty=True)

    # --- messages --------------------------------------------------------------------------
    def message(self, message: Any, prop: str) -> None:
        if not isinstance(message, dict):
            self.add(prop, "must be specified")
            return
        kind = message.get("type")
        if kind is None:
            self.add(f"{prop}.type", "must be specified")
            return
        if kind not in MESSAGE_TYPES:
            self.add(
                f"{prop}.type",
                f"Must be one of the following values: [{', '.join(MESSAGE_TYPES)}]",
            )
            return
        if kind in ("text", "textV2"):
            self.string(message, "text", prop, max_length=5000)
        elif kind == "sticker":
            self.string(message, "packageId", prop)
            self.string(message, "stickerId", prop)
        elif kind == "image" or kind == "video":
            self.url(message, "originalContentUrl", prop)
            self.url(message, "previewImageUrl", prop)
        elif kind == "audio":
            self.url(message, "originalContentUrl", prop)
            self.integer(message, "duration", prop)
        elif kind == "location":
            self.string(message, "title", prop, max_length=100)
            self.string(message, "address", prop, max_length=100)
            for key in ("latitude", "longitude"):
                value = message.get(key)
                if not isinstance(value, int | float) or isinstance(value, bool):
                    self.add(f"{prop}.{key}", "must be specified")
        elif kind == "imagemap":
            self.url(message, "baseUrl", prop)
            self.string(message, "altText", prop, max_length=400)
            if not isinstance(message.get("baseSize"), dict):
                self.add(f"{prop}.baseSize", "must be specified")
            self.array(message, "actions", prop, min_items=1, max_items=50)
        elif kind == "template":
            self.string(message, "altText", prop, max_length=400)
            self.template(message.get("template"), f"{prop}.template")
        elif kind == "flex":
            self.string(message, "altText", prop, max_length=400)
            self.flex_container(message.get("contents"), f"{prop}.contents")
        elif kind == "coupon":
            self.string(message, "couponId", prop)
        quick_reply = message.get("quickReply")
        if quick_reply is not None:
            items = (
                self.array(quick_reply, "items", f"{prop}.quickReply", min_items=1, max_items=13)
                if isinstance(quick_reply, dict)
                else None
            )
            for i, item in enumerate(items or []):
                action = item.get("action") if isinstance(item, dict) else None
                self.action(action, f"{prop}.quickReply.items[{i}].action", context="quickreply")

    def template(self, template: Any, prop: str) -> None:
        if not isinstance(template, dict):
            self.add(prop, "must be specified")
            return
        kind = template.get("type")
        if kind == "buttons":
            short = bool(template.get("thumbnailImageUrl") or template.get("title"))
            self.string(template, "title", prop, required=False, max_length=40)
            self.string(template, "text", prop, max_length=60 if short else 160)
            if template.get("thumbnailImageUrl") is not None:
                self.url(template, "thumbnailImageUrl", prop)
            actions = self.array(template, "actions", prop, min_items=1, max_items=4)
            for i, action in enumerate(actions or []):
                self.action(action, f"{prop}.actions[{i}]", context="template")
        elif kind == "confirm":
            self.string(template, "text", prop, max_length=240)
            actions = self.array(template, "actions", prop, min_items=2, max_items=2)
            for i, action in enumerate(actions or []):
                self.action(action, f"{prop}.actions[{i}]", context="template")
        elif kind == "carousel":
            columns = self.array(template, "columns", prop, min_items=1, max_items=10)
            action_counts = set()
            for c, column in enumerate(columns or []):
                where = f"{prop}.columns[{c}]"
                if not isinstance(column, dict):
                    self.add(where, "must be specified")
                    continue
                short = bool(column.get("thumbnailImageUrl") or column.get("title"))
                self.string(column, "title", where, required=False, max_length=40)
                self.string(column, "text", where, max_length=60 if short else 120)
                actions = self.array(column, "actions", where, min_items=1, max_items=3)
                action_counts.add(len(actions or []))
                for i, action in enumerate(actions or []):
                    self.action(action, f"{where}.actions[{i}]", context="template")
            if len(action_counts) > 1:
                self.add(f"{prop}.columns", "all columns must have the same number of actions")
        elif kind == "image_carousel":
            columns = self.array(template, "columns", prop, min_items=1, max_items=10)
            for c, column in enumerate(columns or []):
                where = f"{prop}.columns[{c}]"
                if not isinstance(column, dict):
                    self.add(where, "must be specified")
                    continue
                self.url(column, "imageUrl", where)
                self.action(column.get("action"), f"{where}.action", context="image_carousel")
        else:
            self.add(
                f"{prop}.type",
                "Must be one of the following values: [buttons, confirm, carousel, image_carousel]",
            )

    def flex_container(self, container: Any, prop: str) -> None:
        if not isinstance(container, dict):
            self.add(prop, "must be specified")
            return
        kind = container.get("type")
        if kind == "bubble":
            self.flex_bubble(container, prop)
        elif kind == "carousel":
            bubbles = self.array(container, "contents", prop, min_items=1, max_items=12)
            for i, bubble in enumerate(bubbles or []):
                if isinstance(bubble, dict) and bubble.get("type") == "bubble":
                    self.flex_bubble(bubble, f"{prop}.contents[{i}]")
                else:
                    self.add(
                        f"{prop}.contents[{i}].type",
                        "Must be one of the following values: [bubble]",
                    )
        else:
            self.add(f"{prop}.type", "Must be one of the following values: [bubble, carousel]")

    def flex_bubble(self, bubble: dict, prop: str) -> None:
        for block in ("header", "body", "footer"):
            if bubble.get(block) is not None:
                box = bubble[block]
                if not isinstance(box, dict) or box.get("type") != "box":
                    self.add(f"{prop}.{block}.type", "Must be one of the following values: [box]")
                else:
                    self.flex_component(box, f"{prop}.{block}")
        if bubble.get("hero") is not None:
            self.flex_component(bubble["hero"], f"{prop}.hero")
        if bubble.get("action") is not None:
            self.action(bubble["action"], f"{prop}.action", context="flex")

    def flex_component(self, component: Any, prop: str) -> None:
        if not isinstance(component, dict):
            self.add(prop, "must be specified")
            return
        kind = component.get("type")
        kinds = ["box", "button", "image", "video", "icon", "text", "span", "separator", "filler"]
        if kind not in kinds:
            self.add(f"{prop}.type", f"Must be one of the following values: [{', '.join(kinds)}]")
            return
        if kind == "box":
            if component.get("layout") not in ("horizontal", "vertical", "baseline"):
                self.add(
                    f"{prop}.layout",
                    "Must be one of the following values: [horizontal, vertical, baseline]",
                )
            contents = component.get("contents")
            if not isinstance(contents, list):
                self.add(f"{prop}.contents", "must be specified")
            else:
                for i, child in enumerate(contents):
                    self.flex_component(child, f"{prop}.contents[{i}]")
        elif kind == "button":
            self.action(component.get("action"), f"{prop}.action", context="flex_button")
        elif kind in ("image", "icon"):
            self.url(component, "url", prop)
        elif kind == "video":
            self.url(component, "url", prop)
            self.url(component, "previewUrl", prop)
        elif kind == "text":
            if not component.get("contents"):
                self.string(component, "text", prop)
        elif kind == "span":
            self.string(component, "text", prop)
        if kind in ("box", "image", "text") and component.get("action") is not None:
            self.action(component["action"], f"{prop}.action", context="flex")


def messages_validate(body: dict, key: str = "messages") -> Details:
    """Check ``body[key]``: 1–5 valid message objects."""
    checker = _Checker()
    messages = checker.array(body, key, "", min_items=1, max_items=5)
    for i, message in enumerate(messages or []):
        checker.message(message, f"{key}[{i}]")
    return checker.details


def rich_menu_validate(body: dict) -> Details:
    """Check a rich menu object: size, name, chat bar text, ≤ 20 areas inside the size."""
    checker = _Checker()
    size = body.get("size")
    width = height = None
    if not isinstance(size, dict):
        checker.add("size", "must be specified")
    else:
        width = checker.integer(size, "width", "size", minimum=1)
        height = checker.integer(size, "height", "size", minimum=1)
        if width is not None and not RICH_MENU_MIN_WIDTH <= width <= RICH_MENU_MAX_WIDTH:
            checker.add(
                "size.width",
                f"must be between {RICH_MENU_MIN_WIDTH} and {RICH_MENU_MAX_WIDTH}",
            )
            width = None
        if height is not None and height < RICH_MENU_MIN_HEIGHT:
            checker.add("size.height", f"must be greater than or equal to {RICH_MENU_MIN_HEIGHT}")
            height = None
        if width and height and width / height < RICH_MENU_MIN_RATIO:
            checker.add(
                "size", f"aspect ratio (width / height) must be at least {RICH_MENU_MIN_RATIO}"
            )
    if not isinstance(body.get("selected"), bool):
        checker.add("selected", "must be specified")
    checker.string(body, "name", "", max_length=300)
    checker.string(body, "chatBarText", "", max_length=14)
    areas = checker.array(body, "areas", "", min_items=0, max_items=RICH_MENU_MAX_AREAS)
    for i, area in enumerate(areas or []):
        where = f"areas[{i}]"
        if not isinstance(area, dict):
            checker.add(where, "must be specified")
            continue
        bounds = area.get("bounds")
        if not isinstance(bounds, dict):
            checker.add(f"{where}.bounds", "must be specified")
        else:
            x = checker.integer(bounds, "x", f"{where}.bounds", minimum=0)
            y = checker.integer(bounds, "y", f"{where}.bounds", minimum=0)
            w = checker.integer(bounds, "width", f"{where}.bounds", minimum=1)
            h = checker.integer(bounds, "height", f"{where}.bounds", minimum=1)
            if None not in (x, y, w, h, width, height) and (
                x + w > width or y + h > height  # type: ignore[operator]
            ):
                checker.add(f"{where}.bounds", "bounds must be inside the rich menu size")
        checker.action(area.get("action"), f"{where}.action", context="richmenu")
    return checker.details
