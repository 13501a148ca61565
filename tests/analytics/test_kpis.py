"""KPIs against the hand-computed chain in conftest.py (``Chain``), after a roll-up."""

import pytest

from analytics.models import SalesDay
from analytics.selectors import DashboardFilter, dashboard_get
from analytics.services.rollups import rollup_run
from line_messaging.models import LinkSource
from tests.analytics.conftest import D1, D2, TODAY


def _board(store=None, date_from=D1, date_to=TODAY):
    return dashboard_get(flt=DashboardFilter(date_from=date_from, date_to=date_to, store=store))


def test_friends_count_follows_and_blocks_not_liff_only_users(chain):
    rollup_run()
    friends = _board().friends
    assert (friends.friends, friends.blocked, friends.effective) == (4, 1, 3)
    assert (friends.linked, friends.linked_effective) == (3, 2)
    assert friends.link_rate == pytest.approx(2 / 3)


def test_sales_split_linked_at_purchase_time_unlinked_members_and_guests(chain):
    rollup_run()
    sales = _board().sales
    assert (sales.purchases, sales.gross, sales.refunded, sales.net) == (6, 66_530, 0, 66_530)
    assert (sales.member_purchases, sales.member_net) == (5, 66_030)
    # A's 9:00 sale was before A linked at 10:00: only the 12:00 one and B's count.
    assert (sales.linked_purchases, sales.linked_net) == (2, 62_000)
    assert sales.linked_share == pytest.approx(62_000 / 66_530)
    assert sales.average_linked == 31_000
    assert sales.average_unlinked_member == 1_343  # (1,000 + 3,000 + 30) / 3
    assert sales.average_guest == 500


def test_sales_per_day_and_per_store(chain, store, other_store):
    rollup_run()
    board = _board()
    by_day = {d.day: d.totals for d in board.sales_by_day}
    assert len(by_day) == 4  # every day of the range, empty days included
    assert (by_day[D1].purchases, by_day[D1].net, by_day[D1].linked_net) == (4, 6_500, 2_000)
    assert (by_day[D2].purchases, by_day[D2].net, by_day[D2].linked_net) == (2, 60_030, 60_000)
    assert by_day[TODAY].purchases == 0
    by_store = {s.store.code: s.totals for s in board.sales_by_store}
    assert (by_store[store.code].purchases, by_store[store.code].net) == (4, 63_500)
    assert (by_store[other_store.code].purchases, by_store[other_store.code].net) == (2, 3_030)


def test_new_links_per_day_by_source_and_poster_store(chain, store):
    rollup_run()
    board = _board()
    by_day = {d.day: d.by_source for d in board.links_by_day}
    assert by_day[D1] == {LinkSource.CHAT: 1, LinkSource.LIFF: 0, LinkSource.POSTER: 0}
    assert by_day[D2] == {LinkSource.CHAT: 0, LinkSource.LIFF: 0, LinkSource.POSTER: 1}
    assert by_day[TODAY] == {LinkSource.CHAT: 0, LinkSource.LIFF: 1, LinkSource.POSTER: 0}
    assert board.new_links == 3
    assert [(s.store.code, s.poster, s.other) for s in board.links_by_store] == [(store.code, 1, 0)]


def test_points_issued_redeemed_and_liability(chain):
    rollup_run()
    board = _board()
    points = board.points
    assert (points.earned, points.bonus, points.redeemed, points.expired) == (660, 600, 30, 0)
    assert points.issued == 1_260
    assert board.members is not None
    assert board.members.liability == 230 + 800 + 0 + 200
    assert board.members.members == 4


def test_tier_distribution_counts_active_members(chain):
    rollup_run()
    board = _board()
    assert board.members is not None
    tiers = {t.name: (t.members, t.share) for t in board.members.tiers}
    assert tiers["レギュラー"] == (3, pytest.approx(0.75))
    assert tiers["シルバー"] == (1, pytest.approx(0.25))
    assert tiers["ゴールド"] == (0, 0)


def test_visits_per_member_per_month_split_by_link_state(chain):
    rollup_run()
    [june] = _board().visits_by_month
    # A: 2 visits (one before linking), B: 1 (linked), C: 2 (never linked).
    assert (june.members, june.visits) == (3, 5)
    assert june.per_member == pytest.approx(5 / 3)
    assert (june.linked_members, june.linked_visits) == (2, 2)
    assert june.per_linked_member == 1
    assert june.unlinked_members == 2  # A before linking, and C
    assert june.per_unlinked_member == pytest.approx(3 / 2)


def test_store_filter_limits_every_store_figure(chain, store):
    rollup_run()
    board = _board(store=store)
    assert (board.sales.purchases, board.sales.net, board.sales.linked_net) == (4, 63_500, 62_000)
    # Friends Shibuya's poster brought in: B only.
    assert (board.friends.friends, board.friends.effective, board.friends.linked) == (1, 1, 1)
    assert board.new_links == 1
    assert (board.points.earned, board.points.redeemed) == (10 + 20 + 600, 0)
    assert board.points.bonus is None and board.points.expired is None
    assert board.members is None  # liability and tiers belong to no store


def test_range_excludes_days_outside_it(chain):
    rollup_run()
    board = _board(date_from=D2, date_to=D2)
    assert (board.sales.purchases, board.sales.net) == (2, 60_030)
    assert board.new_links == 1
    assert (board.points.earned, board.points.bonus, board.points.redeemed) == (600, 200, 30)


def test_rollup_is_idempotent(chain):
    rollup_run()
    first = sorted(SalesDay.objects.values_list("day", "store_id", "purchases", "gross_sales"))
    rollup_run()
    rollup_run(full=True)
    again = sorted(SalesDay.objects.values_list("day", "store_id", "purchases", "gross_sales"))
    assert again == first
    assert _board().sales.net == 66_530
