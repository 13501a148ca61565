"""/hq/purchases/: filters and totals against purchases recorded through the POS API, keyset
paging, the purchase detail, the CSV links, and who may see which store."""

import csv
import datetime
import io

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from hq import selectors
from hq.roles import HqRole
from line_messaging.services.linking import link_direct
from pos_bridge.models import Purchase

NOW = datetime.datetime(2026, 11, 23, 18, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=9)))


@pytest.fixture(autouse=True)
def clock():
    # Mid-afternoon in Tokyo, so "today at noon" is in the past and still today.
    with time_machine.travel(NOW, tick=True):
        yield


def _at(days_ago: int, hour: int = 12) -> str:
    moment = NOW - datetime.timedelta(days=days_ago)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


@pytest.fixture
def sales(settings, pos, other_pos, make_member):
    """Six purchases, hand-made so every total below can be computed by hand.

    shibuya: linked member 1,000 (today) and 5,000 (2 days ago, then 2,000 refunded);
             unlinked member 3,000 (today); no card 700 (today);
             linked member 9,000 (20 days ago: outside the default 7-day period).
    yokohama: unlinked member 4,000 (today).
    """
    settings.LINE_LINK_BONUS_POINTS = 0
    linked = make_member(card_number="20000001", name="連携 花子")
    unlinked = make_member(card_number="20000002", name="未連携 太郎")
    link_direct(line_user_id="U" + "a" * 32, member=linked)
    made = {}

    def buy(client, name, total, *, card=None, days_ago=0, receipt=None):
        body = {"total": total, "occurred_at": _at(days_ago), "receipt_number": receipt or name}
        if card:
            body["card"] = card
        response = client.purchase(**body)
        assert response.status_code == 201, response.content
        made[name] = response.json()["purchase_id"]

    buy(pos, "L1", 1_000, card=linked.card_number)
    buy(pos, "L2", 5_000, card=linked.card_number, days_ago=2)
    buy(pos, "U1", 3_000, card=unlinked.card_number)
    buy(pos, "G1", 700)
    buy(pos, "OLD", 9_000, card=linked.card_number, days_ago=20)
    buy(other_pos, "Y1", 4_000, card=unlinked.card_number)
    refund = pos.refund(made["L2"], amount=2_000)
    assert refund.status_code == 201, refund.content
    return made


def _totals(client: Client, **params):
    response = client.get("/hq/purchases/", params)
    assert response.status_code == 200, response.content.decode()[:500]
    return response.context["totals"], [p.receipt_number for p in response.context["page"].items]


def test_default_period_is_the_last_seven_days_over_all_stores(client_for, sales):
    totals, receipts = _totals(client_for(HqRole.HQ_ADMIN))
    assert totals.count == 5
    assert totals.sales == 1_000 + 5_000 + 3_000 + 700 + 4_000
    assert totals.refunded == 2_000
    assert totals.net_sales == 13_700 - 2_000
    assert sorted(receipts) == ["G1", "L1", "L2", "U1", "Y1"]
    assert receipts[-1] == "L2"  # newest first


@pytest.mark.parametrize(
    ("params", "count", "sales_total"),
    [
        ({"store": "shibuya"}, 4, 9_700),
        ({"store": "yokohama"}, 1, 4_000),
        ({"member": "linked"}, 2, 6_000),
        ({"member": "unlinked"}, 2, 7_000),
        ({"member": "guest"}, 1, 700),
        ({"amount_min": "1000", "amount_max": "4000"}, 3, 8_000),
        ({"card": "2000-0001"}, 3, 15_000),  # a card number is not limited to 7 days
        ({"card": "20000001", "from": _at(3)[:10]}, 2, 6_000),
        ({"receipt": "U1"}, 1, 3_000),
        ({"store": "shibuya", "member": "unlinked", "amount_min": "2000"}, 1, 3_000),
    ],
)
def test_filters_give_hand_computed_totals(client_for, sales, params, count, sales_total):
    totals, receipts = _totals(client_for(HqRole.HQ_ANALYST), **params)
    assert (totals.count, totals.sales) == (count, sales_total)
    assert len(receipts) == count


def test_summaries_by_store_day_and_member(client_for, sales):
    client = client_for(HqRole.HQ_ADMIN)
    by_store = client.get("/hq/purchases/", {"by": "store"}).context["summary"]
    assert [(r.key, r.totals.count, r.totals.sales) for r in by_store] == [
        ("shibuya", 4, 9_700),
        ("yokohama", 1, 4_000),
    ]
    by_member = client.get("/hq/purchases/", {"by": "member"}).context["summary"]
    assert [(r.key, r.totals.sales) for r in by_member] == [
        ("20000002", 7_000),
        ("20000001", 6_000),
    ]
    by_day = client.get("/hq/purchases/", {"by": "day"}).context["summary"]
    assert sum(r.totals.count for r in by_day) == 5
    assert by_day[0].key == timezone.localdate().isoformat()
    assert by_day[0].totals.sales == 1_000 + 3_000 + 700 + 4_000


def test_keyset_pages_cover_every_purchase_once(client_for, sales, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    client = client_for(HqRole.HQ_ADMIN)
    seen: list[str] = []
    response = client.get("/hq/purchases/")
    while True:
        page = response.context["page"]
        seen += [p.receipt_number for p in page.items]
        if page.next_cursor is None:
            break
        response = client.get(f"/hq/purchases/?{response.context['next_query']}")
        assert response.status_code == 200
    assert sorted(seen) == ["G1", "L1", "L2", "U1", "Y1"]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13-01"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2025-01-01", "to": "2025-12-31"},  # longer than 93 days
        {"amount_min": "abc"},
        {"amount_min": "5000", "amount_max": "100"},
        {"card": "12"},
        {"member": "vip"},
        {"after": "not-a-cursor"},
    ],
)
def test_bad_filters_answer_400_in_japanese(client_for, sales, params):
    response = client_for(HqRole.HQ_ADMIN).get("/hq/purchases/", params)
    assert response.status_code == 400
    assert response.context["errors"]
    assert all(any("\u3040" <= ch <= "\u9fff" for ch in e) for e in response.context["errors"])


def test_store_manager_sees_only_own_store_and_is_refused_another(client_for, store, sales):
    client = client_for(HqRole.STORE_MANAGER, store=store)
    totals, receipts = _totals(client)
    assert totals.count == 4
    assert "Y1" not in receipts
    assert client.get("/hq/purchases/", {"store": "yokohama"}).status_code == 403


def test_store_staff_detail_of_another_store_is_404(client_for, store, sales):
    client = client_for(HqRole.STORE_STAFF, store=store)
    assert client.get(f"/hq/purchases/{sales['L1']}/").status_code == 200
    assert client.get(f"/hq/purchases/{sales['Y1']}/").status_code == 404


def test_detail_shows_items_and_refunds(client_for, pos, make_member):
    member = make_member(card_number="20000009", name="明細 一郎")
    response = pos.purchase(
        receipt_number="D-1",
        card=member.card_number,
        total=3_280,
        items=[
            {"sku": "490001", "name": "化粧水", "category": "cosmetics", "quantity": 2,
             "unit_price": 1_140},
            {"sku": "490002", "name": "乳液", "category": "cosmetics", "quantity": 1,
             "unit_price": 1_000},
        ],
    )  # fmt: skip
    purchase_id = response.json()["purchase_id"]
    pos.refund(purchase_id, amount=1_000, refund_receipt_number="RR-1")
    admin = client_for(HqRole.HQ_ADMIN).get(f"/hq/purchases/{purchase_id}/")
    body = admin.content.decode()
    assert admin.status_code == 200
    assert "化粧水" in body and "2,280" in body and "RR-1" in body
    assert "明細 一郎" in body
    analyst = client_for(HqRole.HQ_ANALYST).get(f"/hq/purchases/{purchase_id}/").content.decode()
    assert "明細 一郎" not in analyst and "明細 *" in analyst


def test_csv_link_carries_the_same_filters(client_for, sales):
    client = client_for(HqRole.HQ_ADMIN)
    page = client.get("/hq/purchases/", {"member": "unlinked", "store": "shibuya"})
    link = f"/hq/exports/purchases.csv?{page.context['filter_query']}"
    assert link in page.content.decode().replace("&amp;", "&")
    response = client.get(link)
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert [row[3] for row in rows] == ["U1"]


URLS = ["/hq/purchases/", "/hq/purchases/{id}/"]


@pytest.mark.parametrize("path", URLS)
def test_anonymous_goes_to_admin_login(sales, path):
    response = Client().get(path.format(id=sales["L1"]))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("path", URLS)
def test_login_without_role_is_refused(client_for, sales, path):
    assert client_for("no_role").get(path.format(id=sales["L1"])).status_code == 403


def test_purchase_count_is_what_the_pos_recorded(sales):
    # Guards the fixture itself: six sales, one refund.
    assert Purchase.objects.count() == 6
