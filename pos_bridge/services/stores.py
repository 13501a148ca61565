"""Stores and their POS terminals."""

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from pos_bridge.errors import StoreNotFound
from pos_bridge.models import Store, Terminal

API_KEY_PREFIX = "pos"
# Touching last_used_at on every request would add a write to every POS call.
_LAST_USED_RESOLUTION = timedelta(minutes=5)
# A verified key is remembered this long per process: looking the terminal up costs an ORM
# query with a join on every POS call (about 1 ms of CPU, a tenth of a purchase).
# ``terminal_revoke``, ``terminal_key_rotate`` and any save of a terminal or store drop the
# remembered keys of this process at once; other processes follow within these seconds.
# POS writes re-read the store with the idempotency record lock (``idempotent_call``), so
# a closed store stops writes at once whatever this cache holds.
TERMINAL_AUTH_CACHE_SECONDS = 5.0
_AUTH_CACHE_MAX_ENTRIES = 4096
_authenticated: dict[str, tuple[float, Terminal]] = {}
_authenticated_lock = threading.Lock()


def store_create(*, code: str, name: str, prefecture: str = "") -> Store:
    """Create a store; raises django's ValidationError for a bad code or prefecture."""
    store = Store(code=code, name=name, prefecture=prefecture)
    store.full_clean()
    store.save()
    return store


@dataclass(frozen=True)
class IssuedTerminal:
    terminal: Terminal
    # Shown once; only its hash is stored.
    api_key: str


def _new_api_key() -> tuple[str, str]:
    """A lookup prefix (48 bits, not secret) and the full key with 256 secret bits."""
    prefix = secrets.token_hex(6)
    return prefix, f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def _key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def terminal_create(*, store_code: str, name: str) -> IssuedTerminal:
    """Create a terminal and its API key (256 random bits). The key is never stored."""
    store = Store.objects.filter(code=store_code).first()
    if store is None:
        raise StoreNotFound(store=store_code)
    prefix, api_key = _new_api_key()
    with transaction.atomic():
        terminal = Terminal(store=store, name=name, key_prefix=prefix, key_hash=_key_hash(api_key))
        terminal.full_clean()
        terminal.save()
    return IssuedTerminal(terminal=terminal, api_key=api_key)


def terminal_key_rotate(*, terminal: Terminal) -> str:
    """Replace a terminal's API key (e.g. after a leak); the old key stops working at once."""
    prefix, api_key = _new_api_key()
    Terminal.objects.filter(pk=terminal.pk).update(
        key_prefix=prefix, key_hash=_key_hash(api_key), revoked_at=None
    )
    terminal_auth_cache_clear()
    return api_key


def terminal_authenticate(api_key: str) -> Terminal | None:
    """The active terminal owning ``api_key`` (compared in constant time), else None.

    A verified key is remembered for ``TERMINAL_AUTH_CACHE_SECONDS``; the terminal returned
    then is shared between requests, so treat it (and its store) as read-only.
    """
    # The secret part is urlsafe base64 and may itself contain "_".
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key_hash = _key_hash(api_key)
    clock = time.monotonic()
    remembered = _authenticated.get(key_hash)
    if remembered is not None and clock - remembered[0] < TERMINAL_AUTH_CACHE_SECONDS:
        terminal = remembered[1]
    else:
        found = (
            Terminal.objects.select_related("store")
            .filter(key_prefix=parts[1], revoked_at__isnull=True)
            .first()
        )
        if found is None or not hmac.compare_digest(found.key_hash, key_hash):
            return None
        terminal = found
        _remember(key_hash, clock, terminal)
    now = timezone.now()
    if terminal.last_used_at is None or now - terminal.last_used_at > _LAST_USED_RESOLUTION:
        Terminal.objects.filter(pk=terminal.pk).update(last_used_at=now)
        terminal.last_used_at = now
    return terminal


def _remember(key_hash: str, clock: float, terminal: Terminal) -> None:
    with _authenticated_lock:
        if len(_authenticated) >= _AUTH_CACHE_MAX_ENTRIES:
            _authenticated.clear()
        _authenticated[key_hash] = (clock, terminal)


def terminal_auth_cache_clear(**_signal: Any) -> None:
    """Forget the keys this process verified: the next request of each terminal re-reads it."""
    with _authenticated_lock:
        _authenticated.clear()


def terminal_revoke(*, terminal: Terminal) -> None:
    """Stop a terminal's key working: at once in this process, within
    ``TERMINAL_AUTH_CACHE_SECONDS`` in the others."""
    if terminal.revoked_at is None:
        terminal.revoked_at = timezone.now()
        Terminal.objects.filter(pk=terminal.pk).update(revoked_at=terminal.revoked_at)
    terminal_auth_cache_clear()


for _model in (Terminal, Store):
    post_save.connect(terminal_auth_cache_clear, sender=_model, dispatch_uid=f"auth_{_model}")
    post_delete.connect(terminal_auth_cache_clear, sender=_model, dispatch_uid=f"auth_d_{_model}")
