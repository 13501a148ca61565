"""What a POS purchase costs in SQL, and that the caches which keep it cheap never let a
revoked terminal or a closed store through."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from line_messaging.models import LineFriend, OutboxMessage
from membership.models import PointEntry
from pos_bridge.models import Store
from pos_bridge.services.stores import terminal_revoke
from tests.pos_bridge.helpers import assert_error, written

# Tables read on every purchase before the caches existed, now read once per few seconds.
CACHED_TABLES = (
    "pos_bridge_terminal",
    "membership_pointprogram",
    "membership_campaign",
    "membership_tier",
)
ITEMS = [
    {"sku": "4901", "name": "クリーム", "category": "cosmetics", "quantity": 1, "unit_price": 1280}
]


def _statements(pos, **body) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = pos.purchase(total=1_280, items=ITEMS, **body)
    assert response.status_code == 201, response.content
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_member_purchase_runs_at_most_13_statements_and_reads_no_cached_table(
    pos, make_member, tiers
):
    member = make_member()
    _statements(pos, card=member.card_number)  # fills the per-process caches

    statements = _statements(pos, card=member.card_number)

    assert len(statements) <= 13, "\n".join(statements)
    assert not [sql for sql in statements if any(f'FROM "{t}"' in sql for t in CACHED_TABLES)]
    assert not [sql for sql in statements if sql.startswith("SAVEPOINT")]
    # The earn entry's key is new: no lookup of it before the insert.
    assert not [
        sql for sql in statements if sql.startswith("SELECT") and "membership_pointentry" in sql
    ]
    assert PointEntry.objects.filter(member=member).count() == 2


@pytest.mark.django_db(transaction=True)
def test_purchase_of_a_member_on_line_adds_only_the_receipt_setting_and_outbox_row(
    pos, make_member, tiers
):
    member = make_member()
    LineFriend.objects.create(user_id="U" + "c" * 32, member=member)
    _statements(pos, card=member.card_number)

    statements = _statements(pos, card=member.card_number)

    assert len(statements) <= 15, "\n".join(statements)
    assert OutboxMessage.objects.filter(line_user_id="U" + "c" * 32, purpose="receipt").count() == 2


@pytest.mark.django_db(transaction=True)
def test_non_member_purchase_runs_at_most_7_statements(pos):
    _statements(pos)

    statements = _statements(pos)

    assert len(statements) <= 7, "\n".join(statements)


def test_terminal_revoked_after_recent_use_is_refused_at_once(pos, terminal):
    assert pos.purchase(total=1_000).status_code == 201

    terminal_revoke(terminal=terminal.terminal)

    assert pos.purchase(total=1_000).status_code == 401
    assert pos.post("/cards/resolve", {"card": "0000"}).status_code == 401


def test_terminal_revoked_in_the_admin_after_recent_use_is_refused(admin_client, pos, terminal):
    assert pos.purchase(total=1_000).status_code == 201

    admin_client.post(
        "/admin/pos_bridge/terminal/",
        {"action": "revoke", "_selected_action": [terminal.terminal.pk]},
    )

    assert pos.purchase(total=1_000).status_code == 401


def test_store_closed_behind_the_auth_cache_refuses_writes_at_once(pos, store, make_member):
    member = make_member()
    assert pos.purchase(total=1_000, card=member.card_number).status_code == 201
    # A bulk update sends no signal: the cached terminal still says the store is open.
    Store.objects.filter(pk=store.pk).update(active=False)
    before = written()

    response = pos.purchase(total=1_000, card=member.card_number)

    assert_error(response, 403, "store_inactive")
    assert written() == before
