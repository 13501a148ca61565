"""common.rowsql writes and reads rows exactly as the ORM would, on SQLite and PostgreSQL."""

import datetime

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from common import rowsql
from line_messaging.models import LineFriend, OutboxMessage
from membership.models import CardCode, LotConsumption, Member, PointEntry, PointLot, Tier
from pos_bridge.models import IdempotencyRecord, IdempotencyState, Purchase, PurchaseItem, Store

# Every model the purchase path writes through rowsql. rowsql sends no signals, so a
# receiver added to one of these would silently not run on the hottest path.
WRITTEN_THROUGH_ROWSQL = [
    Purchase,
    PurchaseItem,
    PointEntry,
    PointLot,
    LotConsumption,
    IdempotencyRecord,
    CardCode,
    OutboxMessage,
]

MEMBER_WITH_TIER = rowsql.RowReader(Member, "m", related="tier", related_alias="t")


def _member_sql() -> str:
    return (
        f"SELECT {MEMBER_WITH_TIER.columns} FROM {rowsql.table(Member)} m"
        f" LEFT JOIN {rowsql.table(Tier)} t ON t.id = m.tier_id WHERE m.id = %s"
    )


@pytest.mark.parametrize("model", WRITTEN_THROUGH_ROWSQL, ids=lambda m: m.__name__)
def test_models_written_through_rowsql_have_no_save_signal_receivers(model):
    assert not post_save.has_listeners(model), (
        f"{model.__name__} has a post_save receiver that the purchase path would skip: "
        "call it explicitly there, or write that model through the ORM (see common/rowsql.py)"
    )
    assert not pre_save.has_listeners(model)


def test_row_insert_sets_the_primary_key_and_auto_now_add_like_create(db):
    member = Member(card_number="20000001", birth_date=datetime.date(1990, 4, 1), name="佐藤")
    member.joined_on = datetime.date(2024, 5, 6)

    rowsql.row_insert(member)

    stored = Member.objects.get(pk=member.pk)
    assert stored.card_number == "20000001"
    assert stored.name == "佐藤"
    assert stored.joined_on == datetime.date(2024, 5, 6)
    assert stored.created_at is not None
    assert stored.created_at == member.created_at
    assert member._state.adding is False


def test_rows_insert_writes_every_row_in_one_statement(db, make_member):
    member = make_member()
    entries = [
        PointEntry(
            member=member,
            kind="earn",
            delta=delta,
            balance_after=delta,
            reference="test",
            actor="test",
            idempotency_key=f"rows-{delta}",
            occurred_at=timezone.now(),
        )
        for delta in (1, 2, 3)
    ]

    with transaction.atomic():
        rowsql.rows_insert(entries)

    assert sorted(PointEntry.objects.filter(member=member).values_list("delta", flat=True)) == [
        1,
        2,
        3,
    ]


def test_rows_insert_of_nothing_writes_nothing(db):
    rowsql.rows_insert([])


def test_reader_builds_the_member_and_its_tier_without_further_queries(
    db, make_member, tiers, django_assert_num_queries
):
    member = make_member(tier=tiers["gold"])

    with django_assert_num_queries(1):
        read = MEMBER_WITH_TIER.fetch_first(_member_sql(), [member.pk])
        assert read is not None
        assert read.tier == tiers["gold"]

    assert read == member
    orm = Member.objects.get(pk=member.pk)
    assert {f.attname: getattr(read, f.attname) for f in Member._meta.concrete_fields} == {
        f.attname: getattr(orm, f.attname) for f in Member._meta.concrete_fields
    }


def test_reader_sets_a_missing_joined_row_to_none_without_a_query(
    db, make_member, django_assert_num_queries
):
    member = make_member()

    with django_assert_num_queries(1):
        read = MEMBER_WITH_TIER.fetch_first(_member_sql(), [member.pk])
        assert read is not None
        assert read.tier is None


def test_reader_returns_none_when_no_row_matches(db):
    assert MEMBER_WITH_TIER.fetch_first(_member_sql(), [0]) is None


def test_reader_converts_values_as_the_orm_does(db, store, make_member):
    """Booleans, aware datetimes and JSON come back typed on both databases (SQLite hands
    over 0/1 and text)."""
    friend = LineFriend.objects.create(
        user_id="U" + "a" * 32, member=make_member(), is_blocked=True, followed_at=timezone.now()
    )
    reader = rowsql.RowReader(LineFriend, "f")
    read = reader.fetch_first(
        f"SELECT {reader.columns} FROM {rowsql.table(LineFriend)} f WHERE f.id = %s", [friend.pk]
    )
    assert read is not None
    assert read.is_blocked is True
    assert read.followed_at == LineFriend.objects.get(pk=friend.pk).followed_at
    assert timezone.is_aware(read.followed_at)

    store_reader = rowsql.RowReader(Store, "s")
    read_store = store_reader.fetch_first(
        f"SELECT {store_reader.columns} FROM {rowsql.table(Store)} s WHERE s.id = %s", [store.pk]
    )
    assert read_store is not None
    assert read_store.active is True


def test_row_update_writes_only_the_named_fields_json_included(db, terminal):
    now = timezone.now()
    record = IdempotencyRecord.objects.create(
        terminal=terminal.terminal,
        key="k-1",
        operation="purchase",
        request_hash="h",
        state=IdempotencyState.IN_PROGRESS,
        lease_expires_at=now,
        created_at=now,
    )
    record.state = IdempotencyState.DONE
    record.response_status = 201
    record.response_body = {"purchase_id": 7, "tier": "ゴールド", "nested": [1, None]}
    record.key = "not-written"

    changed = rowsql.row_update(record, ["state", "response_status", "response_body"])

    assert changed == 1
    stored = IdempotencyRecord.objects.get(pk=record.pk)
    assert stored.state == IdempotencyState.DONE
    assert stored.response_status == 201
    assert stored.response_body == {"purchase_id": 7, "tier": "ゴールド", "nested": [1, None]}
    assert stored.key == "k-1"
    reader = rowsql.RowReader(IdempotencyRecord, "r")
    read = reader.fetch_first(
        f"SELECT {reader.columns} FROM {rowsql.table(IdempotencyRecord)} r WHERE r.id = %s",
        [record.pk],
    )
    assert read is not None
    assert read.response_body == stored.response_body


def test_row_update_of_a_deleted_row_changes_nothing(db, make_member):
    member = make_member()
    Member.objects.filter(pk=member.pk).delete()

    assert rowsql.row_update(member, ["name"]) == 0


def test_for_update_clause_matches_the_database():
    clause = rowsql.for_update_of("m")
    if connection.vendor == "postgresql":
        assert clause == ' FOR UPDATE OF "m"'
    else:
        assert clause == ""  # SQLite has no row locks: a writer locks the whole database


def test_fetch_value_is_none_without_a_row(db):
    assert rowsql.fetch_value(f"SELECT id FROM {rowsql.table(Member)} WHERE id = %s", [0]) is None


def test_lot_points_round_trip_through_the_ledger_helpers(db, make_member):
    """The ledger's own plain-SQL reads agree with the ORM (expiry dates, remaining)."""
    member = make_member(points=120)

    lot = PointLot.objects.get(member=member)
    reader = rowsql.RowReader(PointLot, "l")
    read = reader.fetch_first(
        f"SELECT {reader.columns} FROM {rowsql.table(PointLot)} l WHERE l.id = %s", [lot.pk]
    )
    assert read is not None

    assert (read.points, read.remaining, read.expires_on) == (120, 120, lot.expires_on)
    assert isinstance(read.expires_on, datetime.date)
