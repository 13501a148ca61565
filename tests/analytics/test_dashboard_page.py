"""The dashboard page /hq/: roles, the store filter, bad input, and the numbers on it."""

import pytest
from django.test import Client
from django.urls import reverse

from analytics.services.rollups import rollup_run
from hq.roles import HqRole
from tests.analytics.conftest import D1, TODAY

URL = "/hq/"
RANGE = {"from": D1.isoformat(), "to": TODAY.isoformat()}


def test_the_dashboard_is_named_and_mounted_at_hq():
    assert reverse("analytics:dashboard") == URL


def test_anonymous_visitors_are_sent_to_the_admin_login(db):
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("role", [HqRole.HQ_ADMIN, HqRole.HQ_ANALYST])
def test_hq_roles_see_every_store(chain, login, role):
    rollup_run()
    response = login(role).get(URL, RANGE)
    assert response.status_code == 200
    board = response.context["board"]
    assert board.flt.store is None
    assert board.sales.net == 66_530
    html = response.content.decode()
    # The tables carry the numbers without JavaScript; the charts get them as JSON.
    assert "¥66,530" in html
    assert 'id="table-sales-by-day"' in html
    assert 'id="dashboard-charts"' in html
    assert "analytics/dist/dashboard.js" in html
    assert "66.7%" in html  # link rate 2 / 3


def test_store_managers_see_only_their_store(chain, login, store):
    rollup_run()
    response = login(HqRole.STORE_MANAGER).get(URL, RANGE)
    assert response.status_code == 200
    board = response.context["board"]
    assert board.flt.store == store
    assert board.sales.net == 63_500
    assert board.members is None
    assert "ポイント残高（負債）" not in response.content.decode()


def test_store_managers_asking_for_another_store_get_403(chain, login, other_store):
    response = login(HqRole.STORE_MANAGER).get(URL, {**RANGE, "store": other_store.code})
    assert response.status_code == 403
    assert "他店舗のデータは表示できません" in response.content.decode()


def test_store_staff_get_403(db, login):
    assert login(HqRole.STORE_STAFF).get(URL).status_code == 403


def test_hq_can_filter_by_store(chain, login, other_store):
    rollup_run()
    response = login(HqRole.HQ_ANALYST).get(URL, {**RANGE, "store": other_store.code})
    assert response.status_code == 200
    assert response.context["board"].sales.net == 3_030


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-13-01"}, "開始日は YYYY-MM-DD の形式で入力してください"),
        ({"to": "yesterday"}, "終了日は YYYY-MM-DD の形式で入力してください"),
        ({"from": "2026-06-20", "to": "2026-06-01"}, "開始日は終了日以前の日付にしてください"),
        ({"from": "2020-01-01", "to": "2026-06-01"}, "期間は750日以内で指定してください"),
        ({"store": "nowhere"}, "店舗コード「nowhere」の店舗はありません"),
    ],
)
def test_bad_input_shows_a_message_not_an_error(db, login, query, message):
    response = login(HqRole.HQ_ADMIN).get(URL, query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_before_any_rollup_the_page_says_so(db, login):
    response = login(HqRole.HQ_ADMIN).get(URL)
    assert response.status_code == 200
    assert "まだ集計されていません" in response.content.decode()
