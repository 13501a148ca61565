"""The staff scanner (/staff/): store staff accounts and the sales and refunds they key in.

The staff pages record through the same services and exactly-once machinery as the POS API:
each store has one "staff web" terminal (created on demand, its API key thrown away) and
every submit goes through ``idempotent_call`` with a one-time key that the form carried, so
a double tap or a reloaded result page records one sale. The store always comes from the
staff member's account, never from the request: a staff member cannot act for another store.
"""

import datetime
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import ApplicationError
from membership.models import Member
from membership.services.card_codes import card_resolve
from pos_bridge.errors import (
    DuplicateReceipt,
    IdempotencyRequestInProgress,
    PurchaseNotFound,
    StoreNotFound,
)
from pos_bridge.models import (
    Purchase,
    Refund,
    StaffMember,
    StaffRole,
    Store,
    Terminal,
    TerminalKind,
)
from pos_bridge.services.idempotency import StoredResponse, idempotent_call
from pos_bridge.services.purchases import purchase_record, refund_record
from pos_bridge.services.stores import terminal_create

STAFF_TERMINAL_NAME = "スタッフ画面"
# A double tap's second request waits this long for the first to finish and then shows
# the first one's result, instead of a "still processing" page.
IN_PROGRESS_WAIT_SECONDS = 3.0
_IN_PROGRESS_POLL_SECONDS = 0.1
# Crockford's base32 without I, L, O, U: easy to read aloud and to type back.
_RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RECEIPT_RANDOM_LENGTH = 6
_RECEIPT_ATTEMPTS = 3

_Recorded = TypeVar("_Recorded", Purchase, Refund)


class StaffTerminalDisabled(ApplicationError):
    code = "staff_terminal_disabled"
    status = 403
    default_message = "この店舗のスタッフ画面は本部により停止されています。本部に連絡してください。"


# --- Accounts ----------------------------------------------------------------


def staff_member_create(
    *, user: User, store: Store, role: str = StaffRole.STORE_STAFF
) -> StaffMember:
    """Let ``user`` use the staff scanner for ``store``. Raises django's ValidationError."""
    staff = StaffMember(user=user, store=store, role=role)
    staff.full_clean()
    staff.save()
    return staff


@dataclass(frozen=True)
class IssuedStaffAccount:
    staff: StaffMember
    # Shown once; Django stores only its hash.
    password: str


def staff_account_create(
    *, username: str, store_code: str, role: str = StaffRole.STORE_STAFF
) -> IssuedStaffAccount:
    """A new login for one store's staff scanner, with a random password (shown once).

    Raises ``StoreNotFound`` and django's ValidationError (username taken or invalid, bad
    role). The account gets no admin access (``is_staff`` stays off).
    """
    store = Store.objects.filter(code=store_code).first()
    if store is None:
        raise StoreNotFound(store=store_code)
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User(username=username)
        user.set_password(password)
        user.full_clean()
        user.save()
        staff = staff_member_create(user=user, store=store, role=role)
    return IssuedStaffAccount(staff=staff, password=password)


def staff_member_for_user(user: User | AnonymousUser) -> StaffMember | None:
    """The active user's staff record with its store, or None (anonymous, HQ-only, inactive)."""
    if not user.is_authenticated or not user.is_active:
        return None
    return StaffMember.objects.select_related("store", "user").filter(user_id=user.pk).first()


# --- The store's staff terminal ----------------------------------------------


def staff_terminal_for_store(*, store: Store) -> Terminal:
    """The store's "staff web" terminal, created on first use; its API key is discarded.

    Two first requests may race to create it: the partial unique constraint lets one
    through and the other reads the winner's row. HQ can stop a store's staff scanner by
    revoking this terminal in the admin (``StaffTerminalDisabled``).
    """
    terminal = _staff_terminal(store)
    if terminal is None:
        try:
            with transaction.atomic():
                # The key is thrown away: nobody can call the POS API as this terminal.
                issued = terminal_create(store_code=store.code, name=STAFF_TERMINAL_NAME)
                Terminal.objects.filter(pk=issued.terminal.pk).update(kind=TerminalKind.STAFF_WEB)
        except IntegrityError:
            pass
        terminal = _staff_terminal(store)
        assert terminal is not None
    if terminal.revoked_at is not None:
        raise StaffTerminalDisabled(store=store.code)
    return terminal


def _staff_terminal(store: Store) -> Terminal | None:
    return (
        Terminal.objects.select_related("store")
        .filter(store=store, kind=TerminalKind.STAFF_WEB)
        .first()
    )


# --- Reads for the pages -----------------------------------------------------


@dataclass(frozen=True)
class CardLookup:
    member: Member
    # What the cashier typed or scanned, passed on unchanged to the purchase.
    card: str
    identified_by: str
    # Points can be spent only with a card code from the member's own phone.
    can_redeem: bool
    code_expires_at: datetime.datetime | None


def staff_card_lookup(*, card: str) -> CardLookup:
    """Who is this card? Reads only: a card code is not used up by looking at it.

    Raises membership's ``CardNotFound``, ``CardCodeExpired``, ``CardCodeUsed``,
    ``MemberInactive``.
    """
    resolved = card_resolve(card=card)
    code = resolved.card_code
    return CardLookup(
        member=resolved.member,
        card=card.strip(),
        identified_by=resolved.identified_by,
        can_redeem=code is not None and resolved.member.points_balance > 0,
        code_expires_at=code.expires_at if code is not None else None,
    )


def staff_purchase_by_receipt(*, store: Store, receipt_number: str) -> Purchase | None:
    """A purchase of ``store`` by its receipt number (any terminal), else None.

    A number typed in lower case also finds the staff scanner's upper-case ones.
    """
    receipt_number = receipt_number.strip()
    purchases = (
        Purchase.objects.select_related("member", "member__tier", "store")
        .prefetch_related("refunds")
        .filter(store=store)
    )
    found = purchases.filter(receipt_number=receipt_number).first()
    if found is None and receipt_number.upper() != receipt_number:
        found = purchases.filter(receipt_number=receipt_number.upper()).first()
    return found


def staff_recent_purchases(*, store: Store, limit: int = 10) -> list[Purchase]:
    """The store's latest purchases from every terminal, newest first."""
    return list(
        Purchase.objects.select_related("member", "recorded_by")
        .filter(store=store)
        .order_by("-occurred_at", "-pk")[:limit]
    )


def staff_form_key_new() -> str:
    """A one-time key for one rendered form: its submits (double taps, reloads) run once."""
    return f"staff-{secrets.token_urlsafe(24)}"


def staff_receipt_number_new(*, prefix: str, at: datetime.datetime | None = None) -> str:
    """``S-20261123-7K3QXM``: the local date and 30 random bits (unique per store and day
    in practice; the unique constraint catches the rest and a new number is drawn)."""
    day = timezone.localtime(at or timezone.now()).strftime("%Y%m%d")
    tail = "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(_RECEIPT_RANDOM_LENGTH))
    return f"{prefix}-{day}-{tail}"


# --- Writes ------------------------------------------------------------------


def staff_purchase_submit(
    *, staff: StaffMember, form_key: str, card: str, total: int, points_to_redeem: int = 0
) -> StoredResponse:
    """Record a sale keyed in on the staff scanner, at most once per ``form_key``.

    Runs ``purchase_record`` for the staff member's store through ``idempotent_call`` on
    the store's staff terminal: a repeat of the same form replays the first result; a
    repeat while the first is still running waits for it (``IN_PROGRESS_WAIT_SECONDS``)
    and then raises ``IdempotencyRequestInProgress``. The receipt number is generated.
    Raises what ``purchase_record`` raises, ``IdempotencyKeyReused`` (same form, changed
    content) and ``StaffTerminalDisabled``.
    """
    terminal = staff_terminal_for_store(store=staff.store)
    card = card.strip()

    def run() -> StoredResponse:
        now = timezone.now()
        purchase = _with_new_receipt_number(
            "S",
            lambda receipt: purchase_record(
                terminal=terminal,
                receipt_number=receipt,
                occurred_at=now,
                total=total,
                card=card or None,
                points_to_redeem=points_to_redeem,
            ),
        )
        Purchase.objects.filter(pk=purchase.pk).update(recorded_by=staff.user)
        member = purchase.member
        return StoredResponse(
            status=201,
            body={
                "purchase_id": purchase.pk,
                "receipt_number": purchase.receipt_number,
                "occurred_at": purchase.occurred_at.isoformat(),
                "total": purchase.total,
                "points_redeemed": purchase.points_redeemed,
                "points_earned": purchase.points_earned,
                "card_number": member.card_number if member else None,
                "points_balance": member.points_balance if member else None,
                "tier": member.tier.name if member and member.tier else None,
            },
        )

    payload = {"card": card, "total": total, "points_to_redeem": points_to_redeem}
    return _idempotent_call_waiting(
        terminal=terminal, key=form_key, operation="staff_purchase", payload=payload, run=run
    )


def staff_refund_submit(
    *, staff: StaffMember, form_key: str, receipt_number: str, amount: int
) -> StoredResponse:
    """Refund ``amount`` of the store's purchase with ``receipt_number``, once per form.

    The purchase is looked up in the staff member's own store only: another store's
    receipt is ``PurchaseNotFound``. Same exactly-once behaviour as
    ``staff_purchase_submit``; raises what ``refund_record`` raises.
    """
    receipt_number = receipt_number.strip()
    purchase = staff_purchase_by_receipt(store=staff.store, receipt_number=receipt_number)
    if purchase is None:
        raise PurchaseNotFound(receipt_number=receipt_number)
    terminal = staff_terminal_for_store(store=staff.store)
    purchase_id = purchase.pk

    def run() -> StoredResponse:
        now = timezone.now()
        refund = _with_new_receipt_number(
            "R",
            lambda refund_receipt: refund_record(
                terminal=terminal,
                purchase_id=purchase_id,
                refund_receipt_number=refund_receipt,
                amount=amount,
                occurred_at=now,
            ),
        )
        Refund.objects.filter(pk=refund.pk).update(recorded_by=staff.user)
        refunded = refund.purchase
        member = refunded.member
        return StoredResponse(
            status=201,
            body={
                "refund_id": refund.pk,
                "refund_receipt_number": refund.refund_receipt_number,
                "purchase_id": purchase_id,
                "receipt_number": refunded.receipt_number,
                "amount": refund.amount,
                "refundable_amount": refunded.refundable_amount,
                "points_reversed": refund.points_reversed,
                "points_restored": refund.points_restored,
                "points_unrecovered": refund.points_unrecovered,
                "card_number": member.card_number if member else None,
                "points_balance": member.points_balance if member else None,
            },
        )

    payload = {"receipt_number": receipt_number, "amount": amount}
    return _idempotent_call_waiting(
        terminal=terminal, key=form_key, operation="staff_refund", payload=payload, run=run
    )


def _with_new_receipt_number(prefix: str, record: Callable[[str], _Recorded]) -> _Recorded:
    for attempt in range(_RECEIPT_ATTEMPTS):
        try:
            return record(staff_receipt_number_new(prefix=prefix))
        except DuplicateReceipt:
            # 30 random bits a day per store: a clash is all but impossible; draw again.
            if attempt == _RECEIPT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _idempotent_call_waiting(
    *,
    terminal: Terminal,
    key: str,
    operation: str,
    payload: dict[str, Any],
    run: Callable[[], StoredResponse],
) -> StoredResponse:
    deadline = time.monotonic() + IN_PROGRESS_WAIT_SECONDS
    while True:
        try:
            return idempotent_call(
                terminal=terminal, key=key, operation=operation, payload=payload, run=run
            )
        except IdempotencyRequestInProgress:
            # The first tap is still running: its result is replayed once it commits (or,
            # if it failed, this request runs in its place).
            if time.monotonic() >= deadline:
                raise
            time.sleep(_IN_PROGRESS_POLL_SECONDS)
