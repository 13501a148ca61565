"""Short-lived, single-use card codes: what the member card QR shows.

A code is ``MC`` + base32(nonce ‖ tag): an 80-bit random nonce and a 48-bit HMAC tag of it
under the SECRET_KEY. The tag is checked in constant time before the database is touched,
so guessed or mistyped codes cost nothing; the nonce's SHA-256 then finds the stored row,
which binds the code to one member, an expiry at most 60 seconds away, and one use.
A card number alone can earn points but never spend them: spending needs a code, which
only the member's own LINE app can produce.
"""

import base64
import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from common import rowsql
from membership.errors import (
    CardCodeExpired,
    CardCodeUsed,
    CardNotFound,
    CardNumberInvalid,
    MemberInactive,
)
from membership.models import CardCode, Member, MemberStatus
from membership.services.members import card_number_normalize
from membership.services.points import member_lock, member_lock_by_card_number

CARD_CODE_PREFIX = "MC"
_NONCE_BYTES = 10  # 80 bits of unguessable content
_TAG_BYTES = 6
_ENCODED_LENGTH = len(CARD_CODE_PREFIX) + 26  # base32 of 16 bytes, padding stripped
# A POS clock a little behind ours must not make a fresh code look "not yet valid".
_CLOCK_SKEW = datetime.timedelta(seconds=30)


@dataclass(frozen=True)
class IssuedCardCode:
    code: str
    expires_at: datetime.datetime


@dataclass(frozen=True)
class ResolvedCard:
    member: Member
    # Set when the card was presented as a code (the member's app), None for a card number.
    card_code: CardCode | None

    @property
    def identified_by(self) -> str:
        return "card_code" if self.card_code else "card_number"


def _tag(nonce: bytes) -> bytes:
    key = hashlib.sha256(b"membership.card_code:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, nonce, hashlib.sha256).digest()[:_TAG_BYTES]


def _secret_hash(nonce: bytes) -> str:
    return hashlib.sha256(nonce).hexdigest()


def card_code_issue(*, member: Member, now: datetime.datetime | None = None) -> IssuedCardCode:
    """Issue a new code for an active member, valid for CARD_CODE_TTL_SECONDS (≤ 60)."""
    if member.status != MemberStatus.ACTIVE:
        raise MemberInactive()
    now = now or timezone.now()
    nonce = secrets.token_bytes(_NONCE_BYTES)
    expires_at = now + datetime.timedelta(seconds=settings.CARD_CODE_TTL_SECONDS)
    CardCode.objects.create(
        member=member, secret_hash=_secret_hash(nonce), issued_at=now, expires_at=expires_at
    )
    encoded = base64.b32encode(nonce + _tag(nonce)).decode().rstrip("=")
    return IssuedCardCode(code=CARD_CODE_PREFIX + encoded, expires_at=expires_at)


def _decode(code: str) -> bytes | None:
    """Return the nonce of a well-formed, correctly signed code, else None."""
    code = code.strip().upper()
    if len(code) != _ENCODED_LENGTH or not code.startswith(CARD_CODE_PREFIX):
        return None
    body = code[len(CARD_CODE_PREFIX) :]
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        return None
    nonce, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    if not hmac.compare_digest(tag, _tag(nonce)):
        return None
    return nonce


def looks_like_card_code(value: str) -> bool:
    return value.strip().upper().startswith(CARD_CODE_PREFIX)


def card_resolve(
    *, card: str, at: datetime.datetime | None = None, for_update: bool = False
) -> ResolvedCard:
    """Find the member behind a card code or a plain card number.

    A code must be validly signed, known, unexpired at ``at`` (default now) and unused.
    With ``for_update`` (inside a transaction) the code row and then the member row are
    locked, for callers that will consume the code or move points.
    Raises ``CardNotFound``, ``CardCodeExpired``, ``CardCodeUsed``, ``MemberInactive``.
    """
    at = at or timezone.now()
    if looks_like_card_code(card):
        nonce = _decode(card)
        if nonce is None:
            raise CardNotFound()
        card_code = (
            _card_code_lock(_secret_hash(nonce))
            if for_update
            else CardCode.objects.select_related("member", "member__tier")
            .filter(secret_hash=_secret_hash(nonce))
            .first()
        )
        if card_code is None:
            raise CardNotFound()
        if card_code.used_at is not None:
            raise CardCodeUsed()
        if not card_code.issued_at - _CLOCK_SKEW <= at <= card_code.expires_at:
            raise CardCodeExpired(expired_at=card_code.expires_at.isoformat())
        member = member_lock(card_code.member_id) if for_update else card_code.member
    else:
        try:
            number = card_number_normalize(card)
        except CardNumberInvalid as exc:
            raise CardNotFound() from exc
        member_or_none = (
            member_lock_by_card_number(number)
            if for_update
            else Member.objects.select_related("tier").filter(card_number=number).first()
        )
        if member_or_none is None:
            raise CardNotFound()
        member, card_code = member_or_none, None
    if member.status != MemberStatus.ACTIVE:
        raise MemberInactive()
    return ResolvedCard(member=member, card_code=card_code)


_CARD_CODE = rowsql.RowReader(CardCode, "c")


@rowsql.statement
def _card_code_lock_sql() -> str:
    return (
        f"SELECT {_CARD_CODE.columns} FROM {rowsql.table(CardCode)} c"  # noqa: S608
        f" WHERE c.secret_hash = %s{rowsql.for_update_of('c')}"
    )


def _card_code_lock(secret_hash: str) -> CardCode | None:
    # Plain SQL on the purchase path (see common.rowsql); the member is locked after it.
    card_code: CardCode | None = _CARD_CODE.fetch_first(_card_code_lock_sql(), [secret_hash])
    return card_code


@rowsql.statement
def _consume_sql() -> str:
    return (
        f"UPDATE {rowsql.table(CardCode)} SET used_at = %s, used_for = %s"  # noqa: S608
        " WHERE id = %s AND used_at IS NULL"
    )


def card_code_consume(*, card_code: CardCode, used_for: str) -> None:
    """Mark a code used. The conditional UPDATE makes a second use lose even without a lock."""
    card_code.used_at = timezone.now()
    card_code.used_for = used_for
    updated = rowsql.execute(
        _consume_sql(),
        [
            CardCode._meta.get_field("used_at").get_db_prep_save(
                card_code.used_at, connection=connection
            ),
            used_for,
            card_code.pk,
        ],
    )
    if updated != 1:
        raise CardCodeUsed()


def card_codes_purge(*, older_than: datetime.timedelta = datetime.timedelta(days=1)) -> int:
    """Delete codes that expired long ago; the open card makes one about every 40 seconds.

    Used codes are kept as long as unused ones: the purchase they paid for is the record.
    """
    deleted, _ = CardCode.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted
