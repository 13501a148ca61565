"""The point ledger services: append-only, idempotent, FIFO by expiry, never negative."""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from membership.errors import PointsAmountInvalid, PointsInsufficient
from membership.models import EntryKind, LotConsumption, Member, PointEntry, PointLot
from membership.selectors import ledger_problems
from membership.services.points import (
    member_lock,
    point_program_get,
    points_adjust,
    points_credit,
    points_debit,
)


def _credit(member: Member, points: int, *, key: str, **kwargs) -> PointEntry:
    kwargs.setdefault("kind", EntryKind.BONUS)
    with transaction.atomic():
        return points_credit(
            member=member_lock(member.pk),
            points=points,
            reference="test",
            idempotency_key=key,
            actor="system:test",
            **kwargs,
        ).entry


def _debit(member: Member, points: int, *, key: str, **kwargs):
    kwargs.setdefault("kind", EntryKind.REDEEM)
    with transaction.atomic():
        return points_debit(
            member=member_lock(member.pk),
            points=points,
            reference="test",
            idempotency_key=key,
            actor="system:test",
            **kwargs,
        )


def _balance(member: Member) -> int:
    return Member.objects.get(pk=member.pk).points_balance


def _written() -> tuple:
    return (
        PointEntry.objects.count(),
        PointLot.objects.count(),
        LotConsumption.objects.count(),
        list(Member.objects.order_by("pk").values_list("points_balance", flat=True)),
        list(PointLot.objects.order_by("pk").values_list("remaining", flat=True)),
    )


def _days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def test_credit_opens_a_lot_and_raises_the_balance(make_member):
    member = make_member()

    entry = _credit(member, 120, key="k1")

    assert _balance(member) == 120
    assert entry.delta == 120
    assert entry.balance_after == 120
    assert entry.lot.points == entry.lot.remaining == 120


def test_credited_lot_expires_after_the_configured_validity(make_member):
    member = make_member()
    occurred_at = datetime.datetime(2025, 3, 1, 23, 30, tzinfo=datetime.UTC)  # 3/2 in Tokyo

    lot = _credit(member, 10, key="k1", occurred_at=occurred_at).lot

    assert lot.expires_on == datetime.date(2025, 3, 2) + datetime.timedelta(days=365)


def test_lot_validity_follows_the_point_program_setting(make_member):
    program = point_program_get()
    program.points_valid_days = 30
    program.save()
    member = make_member()

    lot = _credit(member, 10, key="k1").lot

    assert lot.expires_on == _days(30)


def test_debit_spends_the_soonest_expiring_lots_first(make_member):
    member = make_member()
    late = _credit(member, 100, key="late", expires_on=_days(300)).lot
    soon = _credit(member, 100, key="soon", expires_on=_days(10)).lot
    middle = _credit(member, 100, key="middle", expires_on=_days(100)).lot

    movement = _debit(member, 150, key="spend")

    remaining = {
        lot.pk: lot.remaining
        for lot in PointLot.objects.filter(pk__in=[late.pk, soon.pk, middle.pk])
    }
    assert remaining == {soon.pk: 0, middle.pk: 50, late.pk: 100}
    drawn = dict(movement.entry.consumptions.values_list("lot_id", "points"))
    assert drawn == {soon.pk: 100, middle.pk: 50}
    assert _balance(member) == 150


def test_debit_of_lots_expiring_the_same_day_takes_the_oldest_lot_first(make_member):
    member = make_member()
    first = _credit(member, 30, key="a", expires_on=_days(10)).lot
    second = _credit(member, 30, key="b", expires_on=_days(10)).lot

    _debit(member, 40, key="spend")

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.remaining, second.remaining) == (0, 20)


def test_repeated_credit_key_is_a_no_op(make_member):
    member = make_member()
    first = _credit(member, 50, key="same")
    before = _written()

    with transaction.atomic():
        again = points_credit(
            member=member_lock(member.pk),
            points=50,
            kind=EntryKind.BONUS,
            reference="test",
            idempotency_key="same",
            actor="system:test",
        )

    assert again.created is False
    assert again.entry.pk == first.pk
    assert _written() == before


def test_repeated_debit_key_is_a_no_op(make_member):
    member = make_member(points=100)
    first = _debit(member, 30, key="spend")
    before = _written()

    again = _debit(member, 30, key="spend")

    assert first.created is True
    assert again.created is False
    assert again.entry.pk == first.entry.pk
    assert _written() == before
    assert _balance(member) == 70


def test_debit_beyond_balance_raises_and_writes_nothing(make_member):
    member = make_member(points=100)
    before = _written()

    with pytest.raises(PointsInsufficient) as exc_info:
        _debit(member, 101, key="too-much")

    assert exc_info.value.code == "points_insufficient"
    assert exc_info.value.extra == {"balance": 100, "requested": 101}
    assert _written() == before


@pytest.mark.parametrize("points", [0, -5])
def test_non_positive_amount_is_refused(make_member, points):
    member = make_member(points=100)
    before = _written()

    with pytest.raises(PointsAmountInvalid) as credit_error:
        _credit(member, points, key="c")
    with pytest.raises(PointsAmountInvalid) as debit_error:
        _debit(member, points, key="d")

    assert credit_error.value.code == debit_error.value.code == "points_amount_invalid"
    assert _written() == before


def test_database_refuses_a_negative_balance(make_member):
    member = make_member(points=10)

    with pytest.raises(IntegrityError) as exc_info, transaction.atomic():
        Member.objects.filter(pk=member.pk).update(points_balance=-1)

    assert "member_balance_not_negative" in str(exc_info.value)
    assert _balance(member) == 10


def test_database_refuses_a_zero_delta_entry(make_member):
    member = make_member()

    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(
            member=member,
            kind=EntryKind.ADJUST,
            delta=0,
            balance_after=0,
            reference="x",
            actor="x",
            idempotency_key="zero",
            occurred_at=timezone.now(),
        )


def test_database_refuses_a_duplicate_ledger_idempotency_key(make_member):
    member = make_member()
    entry = _credit(member, 5, key="dup")

    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(
            member=member,
            kind=EntryKind.BONUS,
            delta=5,
            balance_after=10,
            reference="x",
            actor="x",
            idempotency_key=entry.idempotency_key,
            occurred_at=timezone.now(),
        )


def test_adjust_credits_with_reason_and_actor(make_member):
    member = make_member()

    movement = points_adjust(
        member_id=member.pk,
        delta=300,
        reason="  お詫びポイント  ",
        actor="user:hq-admin",
        idempotency_key="adjust-1",
    )

    entry = movement.entry
    assert (entry.kind, entry.delta, entry.actor) == (EntryKind.ADJUST, 300, "user:hq-admin")
    assert entry.reason == "お詫びポイント"
    assert _balance(member) == 300


def test_adjust_debits_with_reason_and_actor(make_member):
    member = make_member(points=500)

    entry = points_adjust(
        member_id=member.pk,
        delta=-200,
        reason="誤付与の訂正",
        actor="user:hq-admin",
        idempotency_key="adjust-1",
    ).entry

    assert (entry.delta, entry.actor, entry.reason) == (-200, "user:hq-admin", "誤付与の訂正")
    assert _balance(member) == 300


@pytest.mark.parametrize("reason", ["", "   "])
def test_adjust_without_a_reason_is_refused(make_member, reason):
    member = make_member(points=100)
    before = _written()

    with pytest.raises(PointsAmountInvalid) as exc_info:
        points_adjust(
            member_id=member.pk, delta=50, reason=reason, actor="user:hq", idempotency_key="a"
        )

    assert exc_info.value.code == "points_amount_invalid"
    assert _written() == before


def test_adjust_of_zero_is_refused(make_member):
    member = make_member()

    with pytest.raises(PointsAmountInvalid):
        points_adjust(
            member_id=member.pk, delta=0, reason="x", actor="user:hq", idempotency_key="a"
        )

    assert PointEntry.objects.count() == 0


def test_adjust_below_zero_is_refused(make_member):
    member = make_member(points=100)
    before = _written()

    with pytest.raises(PointsInsufficient):
        points_adjust(
            member_id=member.pk, delta=-101, reason="x", actor="user:hq", idempotency_key="a"
        )

    assert _written() == before


def test_adjust_repeated_with_the_same_key_applies_once(make_member):
    member = make_member()

    for _ in range(3):
        points_adjust(
            member_id=member.pk, delta=40, reason="x", actor="user:hq", idempotency_key="once"
        )

    assert _balance(member) == 40
    assert PointEntry.objects.filter(member=member).count() == 1


def test_ledger_stays_consistent_through_mixed_movements(make_member):
    member = make_member()
    _credit(member, 100, key="a", expires_on=_days(5))
    _credit(member, 200, key="b", expires_on=_days(50))
    _debit(member, 150, key="c")
    points_adjust(member_id=member.pk, delta=-100, reason="x", actor="user:hq", idempotency_key="d")
    _credit(member, 20, key="e")

    assert _balance(member) == 70
    assert sum(PointEntry.objects.filter(member=member).values_list("delta", flat=True)) == 70
    assert sum(PointLot.objects.filter(member=member).values_list("remaining", flat=True)) == 70
    assert list(ledger_problems()) == []


def test_entries_record_the_balance_after_each_movement(make_member):
    member = make_member()
    _credit(member, 100, key="a")
    _debit(member, 30, key="b")
    _credit(member, 5, key="c")

    entries = PointEntry.objects.filter(member=member).order_by("id")
    assert [(e.delta, e.balance_after) for e in entries] == [(100, 100), (-30, 70), (5, 75)]
