"""Identifiers shaped like LINE's: user IDs, rich menu IDs, ULIDs, tokens, message IDs."""

import hashlib
import secrets
import string
import uuid

from django.conf import settings
from django.utils import timezone

_CROCKFORD32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ALPHANUMERIC = string.ascii_letters + string.digits


def user_id_new() -> str:
    return "U" + uuid.uuid4().hex


def bot_user_id() -> str:
    """The bot's own user ID (webhook ``destination``), stable for a channel secret."""
    digest = hashlib.sha256(f"line-sandbox-bot:{settings.LINE_CHANNEL_SECRET}".encode())
    return "U" + digest.hexdigest()[:32]


def rich_menu_id_new() -> str:
    return "richmenu-" + uuid.uuid4().hex


def ulid_new() -> str:
    """A ULID (48-bit millisecond time + 80 random bits, Crockford base32), as LINE uses
    for ``webhookEventId``."""
    milliseconds = int(timezone.now().timestamp() * 1000)
    value = (milliseconds << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD32[(value >> shift) & 31] for shift in range(125, -1, -5))


def reply_token_new() -> str:
    return uuid.uuid4().hex


def link_token_new() -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(32))


def message_id_new() -> str:
    """An 18-digit numeric string, like LINE's message IDs."""
    return str(10**17 + secrets.randbelow(9 * 10**17))


def quote_token_new() -> str:
    return secrets.token_urlsafe(24)


def request_id_new() -> str:
    return str(uuid.uuid4())
