"""The Django admin: HQ reads members, purchases and the ledger; edits stores, terminals, rules."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pos_bridge.models import Terminal


@pytest.fixture
def hq(db) -> Client:
    user = get_user_model().objects.create_superuser("hq", "hq@example.jp", "pw-for-tests-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model",
    ["membership/member", "membership/pointentry", "pos_bridge/purchase", "pos_bridge/refund"],
)
def test_records_written_by_services_are_listed_but_cannot_be_added(hq, model, pos, make_member):
    member = make_member()
    pos.purchase(total=1_000, card=member.card_number)

    assert hq.get(f"/admin/{model}/").status_code == 200
    assert hq.get(f"/admin/{model}/add/").status_code == 403


def test_purchase_page_shows_items_read_only(hq, pos, make_member):
    member = make_member()
    purchase_id = pos.purchase(
        total=1_000,
        card=member.card_number,
        items=[{"sku": "4901234567894", "name": "緑茶", "quantity": 1, "unit_price": 1000}],
    ).json()["purchase_id"]

    page = hq.get(f"/admin/pos_bridge/purchase/{purchase_id}/change/")

    assert page.status_code == 200
    assert "緑茶" in page.content.decode()
    assert hq.post(f"/admin/pos_bridge/purchase/{purchase_id}/change/", {}).status_code == 403


@pytest.mark.parametrize(
    "model",
    ["pos_bridge/store", "membership/tier", "membership/campaign", "membership/pointprogram"],
)
def test_rules_and_stores_are_editable(hq, model):
    assert hq.get(f"/admin/{model}/add/").status_code == 200


def test_adding_a_terminal_shows_its_key_once_and_the_key_works(hq, store):
    response = hq.post(
        "/admin/pos_bridge/terminal/add/", {"store": store.pk, "name": "register-9"}, follow=True
    )

    terminal = Terminal.objects.get(name="register-9")
    messages = [str(m) for m in response.context["messages"]]
    key = next(m.split(": ")[-1] for m in messages if "pos_" in m)
    assert key.startswith(f"pos_{terminal.key_prefix}_")
    assert terminal.key_hash not in key
    resolve = Client().post(
        "/api/pos/v1/cards/resolve",
        {"card": "0000"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resolve.status_code == 404  # authenticated; the card simply does not exist


def test_revoking_a_terminal_in_the_admin_stops_its_key(hq, terminal, pos):
    hq.post(
        "/admin/pos_bridge/terminal/",
        {"action": "revoke", "_selected_action": [terminal.terminal.pk]},
    )

    assert pos.post("/cards/resolve", {"card": "0000"}).status_code == 401
