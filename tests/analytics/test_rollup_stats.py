"""``manage.py rollup_stats``: incremental, idempotent, and correcting old days on refunds."""

import datetime
import io

from django.core.management import call_command

from analytics.models import RollupState, SalesDay
from analytics.selectors import DashboardFilter, dashboard_get
from analytics.services.rollups import day_ranges, rollup_run
from tests.analytics.conftest import D1, D2, NOW, TODAY


def _board(store=None):
    return dashboard_get(flt=DashboardFilter(date_from=D1, date_to=TODAY, store=store))


def _day(day):
    return {d.day: d.totals for d in _board().sales_by_day}[day]


def test_a_later_refund_of_an_old_sale_corrects_that_day(chain, clock, pos, other_pos):
    call_command("rollup_stats", stdout=io.StringIO())
    clock(NOW + datetime.timedelta(hours=1))
    # Half of A's linked ¥2,000 sale: 10 of its 20 points are taken back.
    assert pos.refund(chain.a_linked_purchase, amount=1000).status_code == 201
    # All of C's ¥3,000: C spent those 30 points on D2, so none can be taken back.
    assert other_pos.refund(chain.c_first_purchase, amount=3000).status_code == 201

    out = io.StringIO()
    call_command("rollup_stats", stdout=out)
    # Only the purchases' day (D1) and today were recomputed, not the whole history.
    assert out.getvalue().strip() == "rolled up 2 days and 1 months"
    d1 = _day(D1)
    assert (d1.gross, d1.refunded, d1.net) == (6_500, 4_000, 2_500)
    assert (d1.member_net, d1.linked_net) == (2_000, 1_000)
    assert _day(D2).net == 60_030
    board = _board()
    assert board.sales.net == 66_530 - 4_000
    assert board.points.reversed == 10
    assert board.points.unrecovered == 30
    assert board.members is not None
    assert board.members.liability == 1_230 - 10


def test_a_second_run_with_nothing_new_changes_nothing(chain, clock):
    call_command("rollup_stats", stdout=io.StringIO())
    before = sorted(SalesDay.objects.values_list("day", "store_id", "gross_sales", "refunded"))
    clock(NOW + datetime.timedelta(minutes=5))
    out = io.StringIO()
    call_command("rollup_stats", stdout=out)
    assert out.getvalue().strip() == "rolled up 1 days and 1 months"  # today only
    after = sorted(SalesDay.objects.values_list("day", "store_id", "gross_sales", "refunded"))
    assert after == before
    assert RollupState.objects.get().last_started_at == NOW + datetime.timedelta(minutes=5)


def test_a_late_pos_sale_for_an_old_day_is_picked_up(chain, clock, pos):
    rollup_run()
    clock(NOW + datetime.timedelta(hours=2))
    late = pos.purchase(
        total=700,
        occurred_at=datetime.datetime.combine(D2, datetime.time(18), tzinfo=NOW.tzinfo).isoformat(),
    )
    assert late.status_code == 201
    result = rollup_run()
    assert result.days == 2  # D2 and today
    assert _day(D2).net == 60_030 + 700


def test_full_rebuild_matches_incremental(chain):
    rollup_run()
    incremental = sorted(
        SalesDay.objects.values_list("day", "store_id", "purchases", "linked_net_sales")
    )
    call_command("rollup_stats", "--full", stdout=io.StringIO())
    assert (
        sorted(SalesDay.objects.values_list("day", "store_id", "purchases", "linked_net_sales"))
        == incremental
    )
    assert {d for d, *_ in incremental} == {D1, D2}


def test_day_ranges_groups_contiguous_days():
    days = [datetime.date(2026, 1, d) for d in (5, 1, 2, 3, 9)]
    assert day_ranges(days) == [
        (datetime.date(2026, 1, 1), datetime.date(2026, 1, 3)),
        (datetime.date(2026, 1, 5), datetime.date(2026, 1, 5)),
        (datetime.date(2026, 1, 9), datetime.date(2026, 1, 9)),
    ]
