"""Account linking (ID連携), following LINE's Messaging API flow.

1. We obtain a link token for the LINE user (``outbox_link_token_reply``) and send them our
   link page with it.
2. On the page the shopper proves ownership of a card (card number + birth date) or
   registers; ``link_prepare`` then creates a nonce bound to that member and that LINE user.
3. The shopper is sent to LINE's accountLink dialog with token and nonce; LINE answers with
   an ``accountLink`` webhook carrying the nonce, handled by ``link_complete``.
The LIFF card links directly (``link_direct``): its verified ID token already proves the LINE
user. Unlinking is ours alone (LINE has no unlink API): ``link_remove``.
"""

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import ApplicationError
from line_messaging import messages
from line_messaging.models import (
    LineFriend,
    LinkAction,
    LinkAttempt,
    LinkEvent,
    LinkNonce,
    LinkSource,
    LinkToken,
)
from line_messaging.services.outbox import outbox_message, outbox_richmenu_for_link_state
from line_messaging.services.triggers import link_welcome_messages
from membership.models import EntryKind, Member, MemberStatus
from membership.services.members import card_number_normalize
from membership.services.points import member_lock, points_credit

LINK_TOKEN_LIFETIME = datetime.timedelta(minutes=10)
# Failed proofs allowed per window before the scope is refused.
THROTTLE_WINDOW = datetime.timedelta(minutes=15)
THROTTLE_LIMITS = {"token": 5, "card": 5, "ip": 20}


class LinkCredentialsInvalid(ApplicationError):
    code = "link_credentials_invalid"
    status = 400
    # One message for a wrong number, a wrong birth date and an unknown card: no oracle.
    default_message = "会員番号または生年月日が正しくありません。"


class LinkThrottled(ApplicationError):
    code = "link_throttled"
    status = 429
    default_message = "試行回数が多すぎます。しばらく時間をおいてからお試しください。"


class LinkTokenInvalid(ApplicationError):
    code = "link_token_invalid"
    status = 400
    default_message = (
        "連携用のURLの有効期限が切れています。"
        "LINEのトークからもう一度「会員連携」を押してください。"
    )


class CardAlreadyLinked(ApplicationError):
    code = "card_already_linked"
    status = 409
    default_message = "この会員カードはすでに別のLINEアカウントと連携されています。"


class FriendAlreadyLinked(ApplicationError):
    code = "line_already_linked"
    status = 409
    default_message = "このLINEアカウントはすでに会員カードと連携されています。"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def link_page_url(link_token: str) -> str:
    return f"{settings.SITE_URL}/line/link/?{urlencode({'linkToken': link_token})}"


def link_url_messages(link_token: str) -> list[dict]:
    return messages.link_url_messages(link_page_url(link_token))


def link_token_record(*, line_user_id: str, link_token: str) -> LinkToken:
    now = timezone.now()
    return LinkToken.objects.create(
        token_hash=_hash(link_token),
        line_user_id=line_user_id,
        issued_at=now,
        expires_at=now + LINK_TOKEN_LIFETIME,
    )


def link_token_owner(link_token: str) -> LinkToken:
    """The unexpired, unused link token we issued, else ``LinkTokenInvalid``."""
    token = LinkToken.objects.filter(token_hash=_hash(link_token or "")).first()
    if token is None or token.used_at is not None or token.expires_at <= timezone.now():
        raise LinkTokenInvalid()
    return token


# --- throttling ------------------------------------------------------------------------------


def _throttle_keys(
    *, link_token: str | None, card_number: str | None, ip: str | None
) -> list[tuple[str, str]]:
    keys = []
    if link_token:
        keys.append(("token", _hash(link_token)))
    if card_number:
        keys.append(("card", _hash(card_number)))
    if ip:
        keys.append(("ip", _hash(ip)))
    return keys


def _throttle_check(keys: list[tuple[str, str]]) -> None:
    since = timezone.now() - THROTTLE_WINDOW
    for scope, key in keys:
        failures = LinkAttempt.objects.filter(
            scope=scope, key_hash=key, attempted_at__gte=since
        ).count()
        if failures >= THROTTLE_LIMITS[scope]:
            raise LinkThrottled(scope=scope)


def _throttle_record(keys: list[tuple[str, str]]) -> None:
    now = timezone.now()
    LinkAttempt.objects.bulk_create(
        LinkAttempt(scope=s, key_hash=k, attempted_at=now) for s, k in keys
    )


def member_verify(
    *,
    card_number: str,
    birth_date: datetime.date,
    link_token: str | None = None,
    ip: str | None = None,
) -> Member:
    """The active member owning the card, proven by the birth date; throttled.

    Every failure (malformed or unknown number, wrong birth date, withdrawn member) is the
    same ``LinkCredentialsInvalid`` and counts against the token, the card and the IP.
    """
    try:
        number = card_number_normalize(card_number)
    except ApplicationError:
        number = card_number.strip()
    keys = _throttle_keys(link_token=link_token, card_number=number, ip=ip)
    _throttle_check(keys)
    member = Member.objects.filter(card_number=number, status=MemberStatus.ACTIVE).first()
    if member is None or member.birth_date != birth_date:
        # Callers (the link page, the LIFF API) run outside a transaction, so the failure
        # is kept although an error is raised next.
        _throttle_record(keys)
        raise LinkCredentialsInvalid()
    return member


# --- linking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedLink:
    redirect_url: str
    member: Member


def link_prepare(*, link_token: str, member: Member) -> PreparedLink:
    """Create the nonce for a proven member and the LINE dialog URL to send the shopper to.

    The nonce has 256 bits from the CSPRNG, is single use, expires with the link token and is
    bound to both the member and the LINE user the token was issued to.
    """
    token = link_token_owner(link_token)
    existing = LineFriend.objects.filter(member=member).exclude(user_id=token.line_user_id).first()
    if existing is not None:
        raise CardAlreadyLinked()
    friend = LineFriend.objects.filter(user_id=token.line_user_id).first()
    if friend is not None and friend.member_id not in (None, member.pk):
        raise FriendAlreadyLinked()
    nonce = secrets.token_urlsafe(32)
    LinkNonce.objects.create(
        nonce_hash=_hash(nonce),
        line_user_id=token.line_user_id,
        member=member,
        source=LinkSource.CHAT,
        created_at=timezone.now(),
        expires_at=token.expires_at,
    )
    LinkToken.objects.filter(pk=token.pk).update(used_at=timezone.now())
    query = urlencode({"linkToken": link_token, "nonce": nonce})
    return PreparedLink(
        redirect_url=f"{settings.LINE_ACCESS_BASE_URL}/dialog/bot/accountLink?{query}",
        member=member,
    )


@dataclass(frozen=True)
class LinkOutcome:
    linked: bool
    member: Member | None = None
    bonus_awarded: int = 0
    reason: str = ""


def link_complete(*, line_user_id: str, nonce: str, reply_token: str | None) -> LinkOutcome:
    """Handle LINE's ``accountLink`` ok result: link if the nonce is ours, fresh and unused.

    Runs in one transaction: the link, the bonus (once per member, ever), the welcome
    message and the rich menu switch commit together or not at all. An unknown, used or
    expired nonce, or one issued to another LINE user, changes nothing.
    """
    with transaction.atomic():
        record = (
            LinkNonce.objects.select_for_update()
            .filter(nonce_hash=_hash(nonce or ""), line_user_id=line_user_id)
            .first()
        )
        if record is None or record.used_at is not None or record.expires_at <= timezone.now():
            return LinkOutcome(linked=False, reason="nonce_invalid")
        record.used_at = timezone.now()
        record.save(update_fields=["used_at"])
        return _link(
            line_user_id=line_user_id,
            member_id=record.member_id,
            source=record.source,
            reply_token=reply_token,
        )


def link_direct(*, line_user_id: str, member: Member, source: str = LinkSource.LIFF) -> LinkOutcome:
    """Link a LINE user proven by a verified ID token (the LIFF card) to a proven member."""
    with transaction.atomic():
        outcome = _link(
            line_user_id=line_user_id, member_id=member.pk, source=source, reply_token=None
        )
    if not outcome.linked:
        raise CardAlreadyLinked() if outcome.reason == "card_taken" else FriendAlreadyLinked()
    return outcome


def _link(
    *, line_user_id: str, member_id: int, source: str, reply_token: str | None
) -> LinkOutcome:
    member = member_lock(member_id)
    friend, _created = LineFriend.objects.select_for_update().get_or_create(user_id=line_user_id)
    if friend.member_id == member.pk:
        return LinkOutcome(linked=True, member=member, reason="already_linked")
    if friend.member_id is not None:
        outbox_message(
            line_user_id=line_user_id,
            messages=messages.link_refused_already_linked(),
            reply_token=reply_token,
            purpose="link_refused",
        )
        return LinkOutcome(linked=False, reason="friend_taken")
    if LineFriend.objects.filter(member=member).exists():
        outbox_message(
            line_user_id=line_user_id,
            messages=messages.link_refused_card_taken(),
            reply_token=reply_token,
            purpose="link_refused",
        )
        return LinkOutcome(linked=False, reason="card_taken")
    now = timezone.now()
    friend.member = member
    friend.linked_at = now
    friend.link_source = source
    try:
        with transaction.atomic():
            friend.save(update_fields=["member", "linked_at", "link_source", "updated_at"])
    except IntegrityError:
        # Another LINE user linked this card a moment ago (one-to-one constraint).
        return LinkOutcome(linked=False, reason="card_taken")
    LinkEvent.objects.create(
        friend=friend,
        member=member,
        action=LinkAction.LINKED,
        source=source,
        store=friend.acquired_store,
        occurred_at=now,
    )
    bonus = _link_bonus(member)
    welcome = link_welcome_messages(member=member, bonus_awarded=bonus)
    if welcome:  # HQ may switch the welcome off (TriggeredMessage)
        outbox_message(
            line_user_id=line_user_id,
            messages=welcome,
            reply_token=reply_token,
            purpose="link_welcome",
        )
    outbox_richmenu_for_link_state(line_user_id=line_user_id, linked=True)
    return LinkOutcome(linked=True, member=member, bonus_awarded=bonus)


def _link_bonus(member: Member) -> int:
    """Award the link bonus once per member ever: the ledger key makes a relink a no-op."""
    points = settings.LINE_LINK_BONUS_POINTS
    if points <= 0:
        return 0
    movement = points_credit(
        member=member,
        points=points,
        kind=EntryKind.BONUS,
        reference="link_bonus",
        idempotency_key=f"link_bonus:{member.pk}",
        actor="system:line_link",
        reason="LINE会員連携特典",
    )
    return points if movement.created else 0


def link_remove(
    *,
    line_user_id: str,
    reply_token: str | None = None,
    source: str = "",
    withdrawal: bool = False,
) -> bool:
    """Unlink the LINE user from their member; points and history stay with the member.

    Switches the rich menu back and confirms by message (``withdrawal``: the member left the
    programme, so the message says so instead of "your points are kept"). Returns False when
    not linked.
    """
    with transaction.atomic():
        friend = LineFriend.objects.select_for_update().filter(user_id=line_user_id).first()
        if friend is None or friend.member_id is None:
            return False
        member_id = friend.member_id
        friend.member = None
        friend.linked_at = None
        friend.link_source = ""
        friend.save(update_fields=["member", "linked_at", "link_source", "updated_at"])
        LinkEvent.objects.create(
            friend=friend,
            member_id=member_id,
            action=LinkAction.UNLINKED,
            source=source,
            occurred_at=timezone.now(),
        )
        outbox_message(
            line_user_id=line_user_id,
            messages=messages.withdrawal_done() if withdrawal else messages.unlinked_done(),
            reply_token=reply_token,
            purpose="unlinked",
        )
        outbox_richmenu_for_link_state(line_user_id=line_user_id, linked=False)
    return True
