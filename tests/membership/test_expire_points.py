"""``expire_points``: lots past their last valid day expire once, however often cron runs it."""

import datetime
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from membership.models import EntryKind, Member, PointEntry, PointLot
from membership.selectors import ledger_problems
from membership.services.points import member_lock, points_debit, points_expire_due
from tests.conftest import grant_points


def _days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def _balance(member: Member) -> int:
    return Member.objects.get(pk=member.pk).points_balance


def _spend(member: Member, points: int) -> None:
    with transaction.atomic():
        points_debit(
            member=member_lock(member.pk),
            points=points,
            kind=EntryKind.REDEEM,
            reference="test",
            idempotency_key=f"spend:{member.pk}:{points}",
            actor="system:test",
        )


def _run(*args: str) -> str:
    stdout = io.StringIO()
    call_command("expire_points", *args, stdout=stdout)
    return stdout.getvalue()


def test_lot_past_its_last_valid_day_expires(make_member):
    member = make_member()
    grant_points(member, 100, expires_on=_days(-1))

    assert points_expire_due() == 100

    assert _balance(member) == 0
    entry = PointEntry.objects.get(member=member, kind=EntryKind.EXPIRE)
    assert entry.delta == -100
    assert entry.actor == "system:expire_points"
    assert PointLot.objects.get(member=member).remaining == 0


def test_lot_on_its_last_valid_day_does_not_expire_yet(make_member):
    member = make_member()
    grant_points(member, 100, expires_on=_days(0))
    grant_points(member, 50, expires_on=_days(30))

    assert points_expire_due() == 0

    assert _balance(member) == 150
    assert not PointEntry.objects.filter(kind=EntryKind.EXPIRE).exists()


def test_only_the_expired_lots_of_a_member_expire(make_member):
    member = make_member()
    grant_points(member, 100, expires_on=_days(-10))
    grant_points(member, 40, expires_on=_days(10))

    points_expire_due()

    assert _balance(member) == 40


def test_partly_spent_lot_expires_only_what_is_left(make_member):
    member = make_member()
    grant_points(member, 100, expires_on=_days(5))
    grant_points(member, 100, expires_on=_days(50))
    _spend(member, 130)

    with time_machine.travel(timezone.now() + datetime.timedelta(days=10)):
        expired = points_expire_due()

    # The soon lot was spent fully; the later one had 70 left and has not expired.
    assert expired == 0
    assert _balance(member) == 70

    assert points_expire_due(today=_days(51)) == 70
    assert _balance(member) == 0


def test_running_expiry_twice_expires_nothing_more(make_member):
    a = make_member()
    b = make_member()
    grant_points(a, 100, expires_on=_days(-1))
    grant_points(b, 30, expires_on=_days(-3))
    grant_points(b, 20, expires_on=_days(3))

    assert points_expire_due() == 130
    entries = PointEntry.objects.count()

    assert points_expire_due() == 0
    assert PointEntry.objects.count() == entries
    assert (_balance(a), _balance(b)) == (0, 20)


def test_expire_points_command_expires_due_lots_and_reports_the_total(make_member):
    member = make_member()
    grant_points(member, 25, expires_on=_days(-1))
    grant_points(member, 10, expires_on=_days(1))

    first = _run()
    second = _run()

    assert "25" in first
    assert "expired 0 points" in second
    assert _balance(member) == 10
    assert list(ledger_problems()) == []


def test_expire_points_command_accepts_a_date(make_member):
    member = make_member()
    grant_points(member, 25, expires_on=datetime.date(2030, 1, 31))

    _run("--today", "2030-01-31")
    assert _balance(member) == 25

    _run("--today", "2030-02-01")
    assert _balance(member) == 0


@pytest.mark.parametrize("day", ["tomorrow", "2030-02-30", "01/02/2030"])
def test_expire_points_command_refuses_a_bad_date(make_member, day):
    member = make_member()
    grant_points(member, 25, expires_on=_days(-1))

    with pytest.raises(CommandError):
        _run("--today", day)

    assert _balance(member) == 25


def test_points_earned_a_year_ago_expire_by_default(make_member):
    member = make_member()
    year_ago = timezone.now() - datetime.timedelta(days=367)
    grant_points(member, 60, occurred_at=year_ago)
    grant_points(member, 15)

    assert points_expire_due() == 60
    assert _balance(member) == 15


def test_expiry_leaves_the_ledger_consistent(make_member):
    member = make_member()
    grant_points(member, 100, expires_on=_days(-1))
    grant_points(member, 100, expires_on=_days(100))
    _spend(member, 30)

    points_expire_due()

    assert _balance(member) == 100
    assert list(ledger_problems()) == []
