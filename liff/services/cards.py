"""The LIFF member card: open it, refresh its code, link and unlink from the page.

Every function takes the ``VerifiedLineUser`` that ``line_user_verify`` returned: the LINE
user is whoever LINE says signed in, never an ID the page sent.
"""

import datetime
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from liff.errors import NotLinked
from liff.selectors import (
    Page,
    member_for_line_user,
    point_entry_page,
    poster_store,
    purchase_page,
)
from liff.services.id_tokens import VerifiedLineUser
from line_messaging.models import LineFriend, LinkSource
from line_messaging.services.linking import (
    FriendAlreadyLinked,
    link_direct,
    link_remove,
    member_verify,
)
from line_messaging.services.preferences import friend_marketing_opt_in_set
from membership.models import Member, PointEntry
from membership.selectors import ExpiringPoints, points_expiring
from membership.services.card_codes import IssuedCardCode, card_code_issue
from membership.services.members import member_register
from pos_bridge.models import Purchase

# The card shows the first rows of each history; the page asks for more with a cursor.
CARD_HISTORY_ROWS = 5
EXPIRING_WITHIN_DAYS = 90


@dataclass(frozen=True)
class MemberCard:
    member: Member
    code: IssuedCardCode
    expiring_points: list[ExpiringPoints]
    purchases: Page[Purchase]
    point_entries: Page[PointEntry]
    marketing_opt_in: bool


@dataclass(frozen=True)
class LinkedCard:
    card: MemberCard
    bonus_awarded: int


@dataclass(frozen=True)
class Registration:
    birth_date: datetime.date
    name: str
    name_kana: str = ""
    gender: str = ""
    prefecture: str = ""


def liff_friend_ensure(*, user: VerifiedLineUser) -> LineFriend:
    """The ``LineFriend`` row of a verified LIFF user, created if missing.

    LINE user IDs are per provider, so the LIFF channel's ID is the Messaging API's ID of the
    same person. Someone may open the card before adding the account as a friend: the row
    then exists without ``followed_at`` until the follow webhook arrives.
    """
    friend = LineFriend.objects.filter(user_id=user.user_id).first()
    if friend is None:
        try:
            with transaction.atomic():
                friend = LineFriend.objects.create(
                    user_id=user.user_id, display_name=user.display_name[:128]
                )
        except IntegrityError:
            # Created a moment ago by the webhook or a parallel request.
            friend = LineFriend.objects.get(user_id=user.user_id)
    elif user.display_name and not friend.display_name:
        LineFriend.objects.filter(pk=friend.pk, display_name="").update(
            display_name=user.display_name[:128]
        )
    return friend


def _card(member: Member, *, friend: LineFriend) -> MemberCard:
    return MemberCard(
        member=member,
        marketing_opt_in=friend.marketing_opt_in,
        code=card_code_issue(member=member),
        expiring_points=points_expiring(member=member, within_days=EXPIRING_WITHIN_DAYS),
        purchases=purchase_page(member=member, limit=CARD_HISTORY_ROWS),
        point_entries=point_entry_page(member=member, limit=CARD_HISTORY_ROWS),
    )


def member_card_open(*, user: VerifiedLineUser) -> MemberCard | None:
    """Everything the card page shows, with a fresh card code; None when not linked.

    Raises ``MemberInactive`` for a withdrawn member.
    """
    friend = liff_friend_ensure(user=user)
    member = member_for_line_user(line_user_id=user.user_id)
    return _card(member, friend=friend) if member is not None else None


@dataclass(frozen=True)
class RefreshedCode:
    code: IssuedCardCode
    # The page updates its balance (and history) when a sale moved points meanwhile.
    points_balance: int


def member_card_code_refresh(*, user: VerifiedLineUser) -> RefreshedCode:
    """A new card code. Earlier codes stay valid until they expire or are used: the QR on
    screen may have been scanned a moment before the page replaced it.

    Raises ``NotLinked`` and ``MemberInactive``.
    """
    member = member_for_line_user(line_user_id=user.user_id)
    if member is None:
        raise NotLinked()
    return RefreshedCode(code=card_code_issue(member=member), points_balance=member.points_balance)


def _link(*, user: VerifiedLineUser, member: Member, store_code: str) -> LinkedCard:
    friend = liff_friend_ensure(user=user)
    store = poster_store(code=store_code)
    source = LinkSource.POSTER if store is not None else LinkSource.LIFF
    if store is not None and friend.acquired_store_id is None:
        # First poster wins: the store that brought the friend in keeps the credit.
        LineFriend.objects.filter(pk=friend.pk, acquired_store__isnull=True).update(
            acquired_store=store
        )
    outcome = link_direct(line_user_id=user.user_id, member=member, source=source)
    # Read again: the bonus changed the balance, and the card shows the tier.
    linked = member_for_line_user(line_user_id=user.user_id)
    if linked is None:  # unlinked by a parallel request a moment ago
        raise NotLinked()
    return LinkedCard(card=_card(linked, friend=friend), bonus_awarded=outcome.bonus_awarded)


def liff_link_existing(
    *,
    user: VerifiedLineUser,
    card_number: str,
    birth_date: datetime.date,
    ip: str | None = None,
    store_code: str = "",
) -> LinkedCard:
    """Link the LINE user to an existing card proven by its number and the birth date.

    The proof is throttled per card and IP and fails with one generic error
    (``LinkCredentialsInvalid``, ``LinkThrottled``); linking raises ``CardAlreadyLinked`` or
    ``FriendAlreadyLinked``. On success the bonus (once per member, ever), the welcome message
    and the rich menu switch happen exactly as in the chat flow. ``store_code`` (from a
    poster) records the link as a poster link and the friend's acquiring store.
    """
    # Outside a transaction: a failed proof must stay counted although an error follows.
    member = member_verify(card_number=card_number, birth_date=birth_date, ip=ip)
    return _link(user=user, member=member, store_code=store_code)


def liff_register_and_link(
    *, user: VerifiedLineUser, registration: Registration, store_code: str = ""
) -> LinkedCard:
    """Register a new member and link the LINE user to it, in one transaction.

    A registration that cannot be linked (``FriendAlreadyLinked``) is not kept. Raises
    ``MemberDataInvalid`` for data that fails validation.
    """
    if member_for_line_user(line_user_id=user.user_id) is not None:
        raise FriendAlreadyLinked()
    with transaction.atomic():
        member = member_register(
            birth_date=registration.birth_date,
            name=registration.name,
            name_kana=registration.name_kana,
            gender=registration.gender,
            prefecture=registration.prefecture,
        )
        return _link(user=user, member=member, store_code=store_code)


def liff_unlink(*, user: VerifiedLineUser) -> bool:
    """Unlink the LINE user from their card (points and history stay with the member).

    Switches the rich menu back and confirms by message. False when there was no link.
    """
    return link_remove(line_user_id=user.user_id, source=LinkSource.LIFF)


def liff_marketing_set(*, user: VerifiedLineUser, opt_in: bool) -> bool:
    """Opt the LINE user in to or out of marketing messages (campaigns); returns the value.

    Receipts, expiry reminders and other account messages are not marketing and are sent
    either way. Works whether or not the user is linked.
    """
    liff_friend_ensure(user=user)
    return friend_marketing_opt_in_set(line_user_id=user.user_id, opt_in=opt_in)
