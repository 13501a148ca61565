"""``manage.py generate_demo_data``: the counts asked for, a ledger check_ledger accepts,
roll-ups that agree with the raw tables, and a refusal to load twice."""

import io

import pytest
from django.core.management import call_command
from django.db.models import F, Sum

from analytics.models import SalesDay
from line_messaging.models import LineFriend, LinkEvent
from membership.models import Member, PointEntry
from membership.selectors import ledger_problems
from pos_bridge.models import Purchase, PurchaseItem, Refund, Store


def _generate(**options) -> str:
    out = io.StringIO()
    call_command(
        "generate_demo_data",
        members=options.get("members", 300),
        purchases=options.get("purchases", 2_000),
        stores=options.get("stores", 4),
        batch=options.get("batch", 100),
        stdout=out,
    )
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_loads_the_counts_asked_for_with_a_consistent_ledger():
    _generate()
    assert Store.objects.filter(code__startswith="demo-").count() == 4
    assert Member.objects.count() == 300
    assert Purchase.objects.count() == 2_000
    assert Purchase.objects.filter(member__isnull=False).count() == 1_400  # 70% by members
    # Every sale's total is the sum of its items.
    item_totals = PurchaseItem.objects.values("purchase").annotate(
        s=Sum(F("quantity") * F("unit_price"))
    )
    assert all(
        row["s"] == total
        for row, total in zip(
            item_totals.order_by("purchase"),
            Purchase.objects.order_by("id").values_list("total", flat=True),
            strict=True,
        )
    )
    assert list(ledger_problems()) == []
    out = io.StringIO()
    call_command("check_ledger", stdout=out)
    assert "ledger check OK" in out.getvalue()
    assert Refund.objects.exists()
    assert PointEntry.objects.filter(kind="redeem").exists()
    assert LineFriend.objects.filter(member__isnull=False).count() == LinkEvent.objects.count()
    assert LineFriend.objects.filter(is_blocked=True).exists()


@pytest.mark.django_db(transaction=True)
def test_rollups_after_loading_match_the_raw_sales():
    _generate(members=100, purchases=600)
    rolled = SalesDay.objects.aggregate(n=Sum("purchases"), gross=Sum("gross_sales"))
    raw = Purchase.objects.aggregate(gross=Sum("total"))
    assert rolled["n"] == 600
    assert rolled["gross"] == raw["gross"]
    refunded = Purchase.objects.aggregate(s=Sum("refunded_amount"))["s"]
    assert SalesDay.objects.aggregate(s=Sum("refunded"))["s"] == refunded
    assert refunded == Refund.objects.aggregate(s=Sum("amount"))["s"]


@pytest.mark.django_db(transaction=True)
def test_a_second_load_is_refused_and_changes_nothing():
    _generate(members=50, purchases=200)
    with pytest.raises(SystemExit) as exit_info:
        _generate(members=50, purchases=200)
    assert exit_info.value.code == 1
    assert Member.objects.count() == 50
    assert Purchase.objects.count() == 200


@pytest.mark.django_db(transaction=True)
def test_real_services_keep_working_after_loading(pos_after_demo):
    """Ids were assigned by the loader: the sequences must have moved past them."""
    response = pos_after_demo.purchase(total=1_000)
    assert response.status_code == 201
    assert response.json()["purchase_id"] == Purchase.objects.order_by("-id").values("id")[0]["id"]


@pytest.fixture
def pos_after_demo(transactional_db):
    from pos_bridge.services.stores import terminal_create
    from tests.conftest import PosClient

    _generate(members=30, purchases=100)
    return PosClient(terminal_create(store_code="demo-001", name="after-demo").api_key)
