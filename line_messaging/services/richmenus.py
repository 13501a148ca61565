"""Rich menus per link state: definitions, images, deploy and sync.

Two shared menus, never one per user (a channel holds at most 1,000): ``unlinked`` is the
channel default, ``linked`` is linked to each linked user. Unlinking a user removes their
per-user menu so the default shows again.

``richmenu_deploy`` is idempotent: a menu whose definition and image are unchanged is kept;
a changed one is created anew, its image uploaded, its alias pointed at it, users moved to
it, and the old menu deleted. ``richmenu_sync`` re-applies the right menu to every friend in
bulk calls of at most 500 users, backing off on 429.
"""

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from django.conf import settings
from django.utils import timezone
from linebot.v3.messaging import (
    CreateRichMenuAliasRequest,
    RichMenuBulkLinkRequest,
    RichMenuBulkUnlinkRequest,
    RichMenuRequest,
    UpdateRichMenuAliasRequest,
)
from linebot.v3.messaging.exceptions import ApiException
from PIL import Image, ImageDraw, ImageFont

from line_messaging import messages
from line_messaging.client import REQUEST_TIMEOUT, messaging_api, messaging_blob_api
from line_messaging.models import LineFriend, RichMenuDeployment, RichMenuImage

logger = logging.getLogger(__name__)

WIDTH, HEIGHT = 2500, 843  # LINE's "compact" size: width 800-2500, ratio >= 1.45
BULK_LIMIT = 500
MAX_429_RETRIES = 8


@dataclass(frozen=True)
class Area:
    label: str
    action: dict
    colour: str


@dataclass(frozen=True)
class MenuDesign:
    name: str
    alias_id: str
    chat_bar_text: str
    areas: tuple[Area, ...]

    def definition(self) -> dict:
        width = WIDTH // len(self.areas)
        return {
            "size": {"width": WIDTH, "height": HEIGHT},
            "selected": True,
            "name": f"members-{self.name}",
            "chatBarText": self.chat_bar_text,
            "areas": [
                {
                    "bounds": {
                        "x": i * width,
                        "y": 0,
                        # The last area takes the rounding remainder so the menu is covered.
                        "width": WIDTH - i * width if i == len(self.areas) - 1 else width,
                        "height": HEIGHT,
                    },
                    "action": area.action,
                }
                for i, area in enumerate(self.areas)
            ],
        }


def menu_designs() -> dict[str, MenuDesign]:
    """The two menus. Built on call: the LIFF URL comes from settings."""
    return {
        "unlinked": MenuDesign(
            name="unlinked",
            alias_id="members-unlinked",
            chat_bar_text="メニュー",
            areas=(
                Area(
                    "会員連携",
                    {
                        "type": "postback",
                        "data": messages.POSTBACK_LINK_START,
                        "displayText": "会員連携",
                    },
                    "#06C755",
                ),
                Area("お店の情報", {"type": "message", "text": "お店の情報"}, "#2F80ED"),
                Area("ヘルプ", {"type": "message", "text": "ヘルプ"}, "#6B7280"),
            ),
        ),
        "linked": MenuDesign(
            name="linked",
            alias_id="members-linked",
            chat_bar_text="会員メニュー",
            areas=(
                Area("会員証", {"type": "uri", "uri": messages.liff_card_url()}, "#06C755"),
                Area(
                    "ポイント・履歴",
                    {
                        "type": "postback",
                        "data": messages.POSTBACK_POINTS,
                        "displayText": "ポイント",
                    },
                    "#2F80ED",
                ),
                Area("お問い合わせ", {"type": "message", "text": "お問い合わせ"}, "#F2994A"),
                Area(
                    "連携解除",
                    {
                        "type": "postback",
                        "data": messages.POSTBACK_UNLINK_CONFIRM,
                        "displayText": "連携解除",
                    },
                    "#6B7280",
                ),
            ),
        ),
    }


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    font_file = resources.files("noto_cjk_sans_jp_bold") / "NotoSansCJKjp-Bold.otf"
    with resources.as_file(font_file) as path:
        return ImageFont.truetype(str(path), size)


def menu_image_generate(design: MenuDesign) -> bytes:
    """A PNG with one coloured tile per area and its Japanese label, legible on a phone."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    for area, spec in zip(design.areas, design.definition()["areas"], strict=True):
        b = spec["bounds"]
        box = (b["x"] + 12, 12, b["x"] + b["width"] - 12, HEIGHT - 12)
        draw.rounded_rectangle(box, radius=40, fill=area.colour)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        label = area.label.replace("・", "・\n")
        font = _font(_label_size(label, max_width=box[2] - box[0] - 80))
        draw.multiline_text(
            (cx, cy), label, font=font, fill="white", anchor="mm", align="center", spacing=20
        )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _label_size(label: str, *, max_width: int) -> int:
    """The largest font size (at most 120 px) at which every line of the label fits."""
    size = 120
    lines = label.split("\n")
    while size > 40 and max(_font(size).getlength(line) for line in lines) > max_width:
        size -= 6
    return size


def menu_image(design: MenuDesign) -> tuple[bytes, str]:
    """HQ's uploaded image for the menu if there is one, else the generated one."""
    uploaded = RichMenuImage.objects.filter(name=design.name).first()
    if uploaded is not None:
        return bytes(uploaded.image), uploaded.content_type
    return menu_image_generate(design), "image/png"


def _content_hash(definition: dict, image: bytes) -> str:
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True, ensure_ascii=False).encode())
    digest.update(image)
    return digest.hexdigest()


@dataclass
class DeployResult:
    created: list[str]
    kept: list[str]


def richmenu_deploy(*, log: Callable[[str], None] = logger.info) -> DeployResult:
    """Create or update both menus, their images and aliases; make ``unlinked`` the default."""
    result = DeployResult(created=[], kept=[])
    replaced: list[str] = []
    with messaging_api() as api, messaging_blob_api() as blob:
        for design in menu_designs().values():
            definition = design.definition()
            image, content_type = menu_image(design)
            content_hash = _content_hash(definition, image)
            current = RichMenuDeployment.objects.filter(name=design.name).first()
            if (
                current
                and current.content_hash == content_hash
                and _exists(api, current.rich_menu_id)
            ):
                result.kept.append(design.name)
                continue
            created = _with_backoff(
                lambda d=definition: api.create_rich_menu(
                    RichMenuRequest.from_dict(d), _request_timeout=REQUEST_TIMEOUT
                )
            )
            menu_id = created.rich_menu_id
            _with_backoff(
                lambda m=menu_id, i=image, c=content_type: blob.set_rich_menu_image(
                    m, i, _headers={"Content-Type": c}, _request_timeout=REQUEST_TIMEOUT
                )
            )
            _alias_point(api, design.alias_id, menu_id)
            if current is not None:
                replaced.append(current.rich_menu_id)
            RichMenuDeployment.objects.update_or_create(
                name=design.name,
                defaults={
                    "rich_menu_id": menu_id,
                    "alias_id": design.alias_id,
                    "content_hash": content_hash,
                    "deployed_at": timezone.now(),
                },
            )
            result.created.append(design.name)
            log(f"deployed rich menu '{design.name}' as {menu_id}")
        default = RichMenuDeployment.objects.get(name="unlinked").rich_menu_id
        _with_backoff(lambda: api.set_default_rich_menu(default, _request_timeout=REQUEST_TIMEOUT))
    if "linked" in result.created:
        # Per-user links still point at the old menu: move everyone before deleting it.
        richmenu_sync(log=log)
    if replaced:
        with messaging_api() as api:
            for old in replaced:
                try:
                    api.delete_rich_menu(old, _request_timeout=REQUEST_TIMEOUT)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
    return result


def _exists(api, rich_menu_id: str) -> bool:
    try:
        api.get_rich_menu(rich_menu_id, _request_timeout=REQUEST_TIMEOUT)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def _alias_point(api, alias_id: str, menu_id: str) -> None:
    try:
        _with_backoff(
            lambda: api.update_rich_menu_alias(
                alias_id,
                UpdateRichMenuAliasRequest(richMenuId=menu_id),
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
    except ApiException as exc:
        if exc.status not in (400, 404):
            raise
        _with_backoff(
            lambda: api.create_rich_menu_alias(
                CreateRichMenuAliasRequest(richMenuAliasId=alias_id, richMenuId=menu_id),
                _request_timeout=REQUEST_TIMEOUT,
            )
        )


def _with_backoff(call: Callable):
    """Run a LINE call, waiting and retrying on 429 (LINE sends no Retry-After)."""
    for attempt in range(MAX_429_RETRIES):
        try:
            return call()
        except ApiException as exc:
            if exc.status != 429 or attempt == MAX_429_RETRIES - 1:
                raise
            time.sleep(min(2**attempt, 60) * settings.LINE_BACKOFF_SCALE)
    raise AssertionError("unreachable")


@dataclass
class SyncResult:
    linked_users: int
    unlinked_users: int
    bulk_calls: int


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def richmenu_sync(*, log: Callable[[str], None] = logger.info) -> SyncResult:
    """Re-apply the right menu to every friend who has not blocked the account."""
    linked_menu = RichMenuDeployment.objects.filter(name="linked").first()
    if linked_menu is None:
        raise RuntimeError("rich menus are not deployed: run `manage.py richmenu_deploy` first")
    friends = LineFriend.objects.filter(is_blocked=False).order_by("id")
    linked = list(friends.filter(member__isnull=False).values_list("user_id", flat=True))
    unlinked = list(friends.filter(member__isnull=True).values_list("user_id", flat=True))
    calls = 0
    with messaging_api() as api:
        for done, chunk in enumerate(_chunks(linked, BULK_LIMIT), start=1):
            _with_backoff(
                lambda c=chunk: api.link_rich_menu_id_to_users(
                    RichMenuBulkLinkRequest(richMenuId=linked_menu.rich_menu_id, userIds=c),
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )
            calls += 1
            log(f"linked menu: {min(done * BULK_LIMIT, len(linked))}/{len(linked)} users")
        for done, chunk in enumerate(_chunks(unlinked, BULK_LIMIT), start=1):
            _with_backoff(
                lambda c=chunk: api.unlink_rich_menu_id_from_users(
                    RichMenuBulkUnlinkRequest(userIds=c), _request_timeout=REQUEST_TIMEOUT
                )
            )
            calls += 1
            log(f"default menu: {min(done * BULK_LIMIT, len(unlinked))}/{len(unlinked)} users")
    return SyncResult(linked_users=len(linked), unlinked_users=len(unlinked), bulk_calls=calls)
