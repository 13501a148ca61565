"""The point ledger: the only code that writes PointEntry, PointLot, LotConsumption and
Member.points_balance.

Rules every function here keeps:
- it runs inside ``transaction.atomic()`` and works on a member row locked with
  ``member_lock`` (SELECT ... FOR UPDATE), so two movements on one member never interleave;
- it is idempotent on ``idempotency_key``: a key already in the ledger returns the entry
  written the first time and changes nothing;
- the balance never goes below zero (checked here, and by a database constraint).
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from common import rowsql
from membership.errors import PointsAmountInvalid, PointsInsufficient
from membership.models import (
    EntryKind,
    LotConsumption,
    Member,
    PointEntry,
    PointLot,
    PointProgram,
    Tier,
)
from membership.services.rules_cache import earning_rules


def point_program_get() -> PointProgram:
    """The program row, read fresh (for editing); readers on hot paths use ``earning_rules``."""
    program, _created = PointProgram.objects.get_or_create(pk=1)
    return program


def lot_expiry(
    occurred_at: datetime.datetime, *, program: PointProgram | None = None
) -> datetime.date:
    """Last valid day of points earned at ``occurred_at``: the local date plus the validity."""
    valid_days = (program or earning_rules().program).points_valid_days
    return timezone.localdate(occurred_at) + datetime.timedelta(days=valid_days)


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("member rows can only be locked inside transaction.atomic()")


_MEMBER_WITH_TIER = rowsql.RowReader(Member, "m", related="tier", related_alias="t")


@rowsql.statement
def _member_lock_sql(column: str) -> str:
    return (
        f"SELECT {_MEMBER_WITH_TIER.columns} FROM {rowsql.table(Member)} m"  # noqa: S608
        f" LEFT JOIN {rowsql.table(Tier)} t ON t.id = m.tier_id"
        f" WHERE m.{column} = %s{rowsql.for_update_of('m')}"
    )


def _member_locked_where(column: str, value: object) -> Member | None:
    # The one place the member row lock is taken. FOR UPDATE OF m locks the member row
    # only (PostgreSQL refuses to lock the nullable side of the join); the tier comes along
    # so callers need no extra query.
    _require_transaction()
    member: Member | None = _MEMBER_WITH_TIER.fetch_first(_member_lock_sql(column), [value])
    return member


def member_lock(member_id: int) -> Member:
    """Lock a member row for the rest of the current transaction and return it fresh.

    Raises ``Member.DoesNotExist`` for an unknown id.
    """
    member = _member_locked_where("id", member_id)
    if member is None:
        raise Member.DoesNotExist(f"member {member_id} does not exist")
    return member


def member_lock_by_card_number(card_number: str) -> Member | None:
    """As ``member_lock``, finding the member by its (normalised) card number; None if unknown."""
    return _member_locked_where("card_number", card_number)


@dataclass(frozen=True)
class Movement:
    entry: PointEntry
    # False when the idempotency key was already in the ledger and nothing was written.
    created: bool


def _existing(idempotency_key: str) -> PointEntry | None:
    # Callers pass ``key_is_new=True`` to skip this query when the key names a row created
    # in the current transaction (``purchase:<new id>:earn``): no earlier movement can carry
    # it, and the unique constraint on the key would still refuse a second one.
    return PointEntry.objects.filter(idempotency_key=idempotency_key).first()


@rowsql.statement
def _balance_add_sql() -> str:
    table = rowsql.table(Member)
    return f"UPDATE {table} SET points_balance = points_balance + %s WHERE id = %s"  # noqa: S608


def _append(
    *,
    member: Member,
    kind: str,
    delta: int,
    reference: str,
    idempotency_key: str,
    actor: str,
    occurred_at: datetime.datetime,
    reason: str,
) -> PointEntry:
    member.points_balance += delta
    # Update by expression as well as in memory: the row is locked, but adding in SQL makes
    # the database, not this process, the source of the new value.
    rowsql.execute(_balance_add_sql(), [delta, member.pk])
    entry = PointEntry(
        member=member,
        kind=kind,
        delta=delta,
        balance_after=member.points_balance,
        reference=reference,
        reason=reason,
        actor=actor,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
    )
    rowsql.row_insert(entry)
    return entry


def points_credit(
    *,
    member: Member,
    points: int,
    kind: str,
    reference: str,
    idempotency_key: str,
    actor: str,
    occurred_at: datetime.datetime | None = None,
    expires_on: datetime.date | None = None,
    reason: str = "",
    key_is_new: bool = False,
) -> Movement:
    """Add points in a new lot. ``member`` must be locked by ``member_lock``.

    The lot expires ``PointProgram.points_valid_days`` after the local date of
    ``occurred_at`` unless ``expires_on`` is given. Idempotent on ``idempotency_key``;
    ``key_is_new`` skips the lookup for a key that cannot have been used (see
    ``_existing``). Raises ``PointsAmountInvalid`` for a non-positive amount.
    """
    if points <= 0:
        raise PointsAmountInvalid(points=points)
    if not key_is_new and (existing := _existing(idempotency_key)) is not None:
        return Movement(existing, created=False)
    occurred_at = occurred_at or timezone.now()
    if expires_on is None:
        expires_on = lot_expiry(occurred_at)
    entry = _append(
        member=member,
        kind=kind,
        delta=points,
        reference=reference,
        idempotency_key=idempotency_key,
        actor=actor,
        occurred_at=occurred_at,
        reason=reason,
    )
    rowsql.row_insert(
        PointLot(member=member, entry=entry, points=points, remaining=points, expires_on=expires_on)
    )
    return Movement(entry, created=True)


_LOT = rowsql.RowReader(PointLot, "l")


@rowsql.statement
def _lots_open_sql(expired_only: bool) -> str:
    expired = " AND l.expires_on < %s" if expired_only else ""
    return (
        f"SELECT {_LOT.columns} FROM {rowsql.table(PointLot)} l"  # noqa: S608
        f" WHERE l.member_id = %s AND l.remaining > 0{expired} ORDER BY l.expires_on, l.id"
    )


def _lots_open(*, member_id: int, expired_before: datetime.date | None = None) -> list[PointLot]:
    """The member's lots with points left, soonest-expiring first; with ``expired_before``
    only those whose last valid day is before it. Plain SQL: every redemption reads them."""
    params: list[Any] = [member_id]
    if expired_before is not None:
        field = PointLot._meta.get_field("expires_on")
        params.append(field.get_db_prep_value(expired_before, connection))
    with connection.cursor() as cursor:
        cursor.execute(_lots_open_sql(expired_before is not None), params)
        return [_LOT.build(row) for row in cursor.fetchall()]


def points_debit(
    *,
    member: Member,
    points: int,
    kind: str,
    reference: str,
    idempotency_key: str,
    actor: str,
    occurred_at: datetime.datetime | None = None,
    reason: str = "",
    lots: list[PointLot] | None = None,
    key_is_new: bool = False,
) -> Movement:
    """Take points from the member's lots, soonest-expiring first (or from ``lots`` in order).

    ``member`` must be locked by ``member_lock``. Idempotent on ``idempotency_key``
    (``key_is_new`` as for ``points_credit``). Raises ``PointsInsufficient`` when the
    balance (or the given lots) cannot cover it.
    """
    if points <= 0:
        raise PointsAmountInvalid(points=points)
    if not key_is_new and (existing := _existing(idempotency_key)) is not None:
        return Movement(existing, created=False)
    if points > member.points_balance:
        raise PointsInsufficient(balance=member.points_balance, requested=points)
    if lots is None:
        lots = _lots_open(member_id=member.pk)
    entry = _append(
        member=member,
        kind=kind,
        delta=-points,
        reference=reference,
        idempotency_key=idempotency_key,
        actor=actor,
        occurred_at=occurred_at or timezone.now(),
        reason=reason,
    )
    still_needed = points
    consumptions = []
    for lot in lots:
        if still_needed == 0:
            break
        take = min(lot.remaining, still_needed)
        if take == 0:
            continue
        lot.remaining -= take
        still_needed -= take
        consumptions.append(LotConsumption(entry=entry, lot=lot, points=take))
    if still_needed:
        # The cached balance said yes but the lots say no: the ledger is inconsistent.
        # Refuse (the transaction rolls back) rather than write a movement that does not add up.
        raise PointsInsufficient(balance=points - still_needed, requested=points)
    for consumption in consumptions:
        rowsql.row_update(consumption.lot, ["remaining"])
    rowsql.rows_insert(consumptions)
    return Movement(entry, created=True)


def points_adjust(
    *,
    member_id: int,
    delta: int,
    reason: str,
    actor: str,
    idempotency_key: str,
) -> Movement:
    """A manual correction by HQ, with a mandatory reason and the actor recorded.

    Locks the member; idempotent on ``idempotency_key``; raises ``PointsAmountInvalid``
    (zero delta or empty reason) or ``PointsInsufficient``.
    """
    if not reason.strip():
        raise PointsAmountInvalid("調整理由を入力してください。", field="reason")
    if delta == 0:
        raise PointsAmountInvalid(points=delta)
    with transaction.atomic():
        member = member_lock(member_id)
        move = points_credit if delta > 0 else points_debit
        return move(
            member=member,
            points=abs(delta),
            kind=EntryKind.ADJUST,
            reference="adjustment",
            idempotency_key=idempotency_key,
            actor=actor,
            reason=reason.strip(),
        )


def points_expire_for_member(*, member: Member, today: datetime.date | None = None) -> int:
    """Expire the member's lots whose last valid day is before ``today``; return the points.

    ``member`` must be locked by ``member_lock``. Each lot expires with the key
    ``expire:lot:<id>``, so running this again (or alongside the cron) expires nothing twice.
    Redemptions call it first so that points past their date are never spent, even when
    the nightly ``expire_points`` has not run yet.
    """
    today = today or timezone.localdate()
    expired = 0
    for lot in _lots_open(member_id=member.pk, expired_before=today):
        movement = points_debit(
            member=member,
            points=lot.remaining,
            kind=EntryKind.EXPIRE,
            reference=f"lot:{lot.pk}",
            idempotency_key=f"expire:lot:{lot.pk}",
            actor="system:expire_points",
            occurred_at=timezone.now(),
            lots=[lot],
        )
        if movement.created:
            expired += -movement.entry.delta
    return expired


def points_expire_due(*, today: datetime.date | None = None) -> int:
    """Expire every lot whose last valid day is before ``today``; return points expired.

    Safe to run at any frequency and concurrently with itself and with purchases: each
    member is handled in its own transaction under its row lock.
    """
    today = today or timezone.localdate()
    member_ids = (
        PointLot.objects.filter(expires_on__lt=today, remaining__gt=0)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()
    )
    expired_points = 0
    for member_id in member_ids.iterator(chunk_size=1000):
        with transaction.atomic():
            member = member_lock(member_id)
            expired_points += points_expire_for_member(member=member, today=today)
    return expired_points
