"""``check_ledger``: proves every balance equals its entries and lots, names any member
that does not, and exits non-zero."""

import io

import pytest
from django.core.management import call_command

from membership.models import Member, PointLot
from membership.services.points import points_adjust
from tests.conftest import grant_points


def _check() -> tuple[int, str, str]:
    """Run the command in-process; return (exit code, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("check_ledger", stdout=stdout, stderr=stderr)
    except SystemExit as exc:
        return int(exc.code or 0), stdout.getvalue(), stderr.getvalue()
    return 0, stdout.getvalue(), stderr.getvalue()


def test_check_ledger_passes_on_an_empty_ledger(db):
    code, out, err = _check()

    assert code == 0
    assert "OK" in out
    assert err == ""


def test_check_ledger_passes_after_purchases_redemptions_refunds_and_adjustments(
    pos, make_member, card_code
):
    a = make_member(points=1_000)
    b = make_member()
    p1 = pos.purchase(total=5_000, card=card_code(a), points_to_redeem=700)
    p2 = pos.purchase(total=3_333, card=b.card_number)
    p3 = pos.purchase(total=33, card=card_code(b), points_to_redeem=33)
    r1 = pos.refund(p1.json()["purchase_id"], amount=1_234)
    r2 = pos.refund(p2.json()["purchase_id"], amount=3_333)
    assert [r.status_code for r in (p1, p2, p3, r1, r2)] == [201] * 5
    assert r2.json()["points_unrecovered"] == 33
    points_adjust(member_id=a.pk, delta=-5, reason="x", actor="user:hq", idempotency_key="adj")

    code, out, err = _check()

    assert (code, err) == (0, "")
    assert "OK" in out


def test_check_ledger_fails_naming_the_member_whose_balance_was_corrupted(make_member):
    healthy = make_member(points=100, card_number="11110000")
    broken = make_member(points=100, card_number="22220000")
    Member.objects.filter(pk=broken.pk).update(points_balance=150)

    code, _out, err = _check()

    assert code == 1
    assert "22220000" in err
    assert healthy.card_number not in err


def test_check_ledger_fails_when_a_lot_disagrees_with_its_consumptions(make_member):
    member = make_member(card_number="33330000")
    grant_points(member, 100)
    PointLot.objects.filter(member=member).update(remaining=90)
    Member.objects.filter(pk=member.pk).update(points_balance=90)

    code, _out, err = _check()

    assert code == 1
    assert "33330000" in err


@pytest.mark.parametrize("balance", [0, 99, 101])
def test_check_ledger_catches_any_balance_drift(make_member, balance):
    member = make_member(points=100, card_number="44440000")
    Member.objects.filter(pk=member.pk).update(points_balance=balance)

    code, _out, err = _check()

    assert code == 1
    assert "44440000" in err


def test_check_ledger_reports_every_broken_member(make_member):
    first = make_member(points=10, card_number="55550001")
    second = make_member(points=10, card_number="55550002")
    Member.objects.filter(pk__in=[first.pk, second.pk]).update(points_balance=3)

    code, _out, err = _check()

    assert code == 1
    assert "55550001" in err
    assert "55550002" in err


def test_check_ledger_names_a_member_whose_running_balance_was_lost(make_member):
    from membership.models import PointEntry
    from membership.selectors import ledger_problems
    from tests.conftest import grant_points

    member = make_member()
    grant_points(member, 100)
    grant_points(member, 50)
    # A lost update: the second entry recorded the balance as if the first never happened.
    latest = PointEntry.objects.filter(member=member).latest("id")
    PointEntry.objects.filter(pk=latest.pk).update(balance_after=50)

    problems = list(ledger_problems())

    assert [p.card_number for p in problems] == [member.card_number]
    assert "running sum 150" in problems[0].problem
