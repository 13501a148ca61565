"""Idempotency-Key on POS writes: exactly once, replayed byte for byte, scoped per terminal."""

import datetime
import io
import uuid

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from membership.models import Member
from pos_bridge.models import (
    IdempotencyRecord,
    IdempotencyState,
    Purchase,
)
from pos_bridge.schemas import PurchaseIn
from pos_bridge.services.idempotency import idempotency_records_purge, request_fingerprint
from pos_bridge.services.stores import terminal_create
from tests.conftest import PosClient, grant_points
from tests.pos_bridge.helpers import assert_error, written


def _body(**fields) -> dict:
    fields.setdefault("receipt_number", f"R-{uuid.uuid4().hex[:10]}")
    fields.setdefault("occurred_at", (timezone.now() - datetime.timedelta(minutes=1)).isoformat())
    fields.setdefault("total", 1_000)
    return fields


def _record_in_progress(terminal, key: str, body: dict, *, lease_seconds: int):
    """A claim as a concurrent (or crashed) request for the same key would have left it."""
    payload = PurchaseIn.model_validate(body).model_dump(mode="json")
    now = timezone.now()
    return IdempotencyRecord.objects.create(
        terminal=terminal,
        key=key,
        operation="purchase",
        request_hash=request_fingerprint(operation="purchase", payload=payload),
        state=IdempotencyState.IN_PROGRESS,
        lease_expires_at=now + datetime.timedelta(seconds=lease_seconds),
        created_at=now - datetime.timedelta(minutes=2),
    )


def test_same_key_and_body_replays_the_identical_response_and_records_once(pos, make_member):
    member = make_member()
    body = _body(card=member.card_number)

    first = pos.post("/purchases", body, key="key-1")
    second = pos.post("/purchases", body, key="key-1")
    third = pos.post("/purchases", body, key="key-1")

    assert first.status_code == second.status_code == third.status_code == 201
    assert first.content == second.content == third.content
    assert Purchase.objects.count() == 1
    assert Member.objects.get(pk=member.pk).points_balance == 10
    record = IdempotencyRecord.objects.get()
    assert record.state == IdempotencyState.DONE
    assert record.response_status == 201


def test_replay_returns_the_stored_response_even_after_the_balance_changed(pos, make_member):
    member = make_member()
    body = _body(card=member.card_number)
    first = pos.post("/purchases", body, key="key-1")
    grant_points(member, 500)

    replay = pos.post("/purchases", body, key="key-1")

    assert replay.content == first.content
    assert replay.json()["points_balance"] == 10


def test_same_key_with_a_different_body_is_refused(pos, make_member):
    member = make_member()
    body = _body(card=member.card_number)
    assert pos.post("/purchases", body, key="key-1").status_code == 201
    before = written()

    response = pos.post("/purchases", {**body, "total": 2_000}, key="key-1")

    assert_error(response, 422, "idempotency_key_reused")
    assert written() == before


def test_purchase_key_reused_for_a_refund_is_refused(pos):
    purchase = pos.post("/purchases", _body(), key="key-1").json()
    before = written()

    response = pos.refund(purchase["purchase_id"], key="key-1", amount=100)

    assert_error(response, 422, "idempotency_key_reused")
    assert written() == before


@pytest.mark.parametrize("header", [None, ""], ids=["absent", "empty"])
def test_purchase_without_idempotency_key_is_refused(pos, make_member, header):
    member = make_member()
    before = written()
    headers = dict(pos.headers)
    if header is not None:
        headers["Idempotency-Key"] = header

    response = pos.client.post(
        "/api/pos/v1/purchases",
        _body(card=member.card_number),
        content_type="application/json",
        headers=headers,
    )

    assert_error(response, 400, "idempotency_key_missing")
    assert written() == before


def test_refund_without_idempotency_key_is_refused(pos):
    purchase_id = pos.post("/purchases", _body(), key="key-1").json()["purchase_id"]
    before = written()

    response = pos.client.post(
        f"/api/pos/v1/purchases/{purchase_id}/refunds",
        {"refund_receipt_number": "RR-1", "amount": 100, "occurred_at": timezone.now().isoformat()},
        content_type="application/json",
        headers=pos.headers,
    )

    assert_error(response, 400, "idempotency_key_missing")
    assert written() == before


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "k" * 300, "has space", "キー", "tab\tkey", "ключ"],
    ids=["256_chars", "300_chars", "space", "japanese", "tab", "cyrillic"],
)
def test_invalid_idempotency_key_is_refused(pos, make_member, key):
    member = make_member()
    before = written()

    response = pos.post("/purchases", _body(card=member.card_number), key=key)

    assert_error(response, 400, "idempotency_key_invalid")
    assert written() == before


def test_idempotency_key_of_255_printable_ascii_chars_is_accepted(pos):
    key = ("abc-_.:/~!" * 26)[:255]

    assert pos.post("/purchases", _body(), key=key).status_code == 201


def test_request_with_a_key_still_in_progress_gets_409(pos, terminal, make_member):
    member = make_member()
    body = _body(card=member.card_number)
    record = _record_in_progress(terminal.terminal, "key-1", body, lease_seconds=30)
    before = written()

    response = pos.post("/purchases", body, key="key-1")

    assert_error(response, 409, "idempotency_request_in_progress")
    assert written() == before
    record.refresh_from_db()
    assert record.state == IdempotencyState.IN_PROGRESS


def test_abandoned_key_whose_lease_expired_is_taken_over_and_completes_once(
    pos, terminal, make_member
):
    member = make_member()
    body = _body(card=member.card_number)
    _record_in_progress(terminal.terminal, "key-1", body, lease_seconds=-1)

    first = pos.post("/purchases", body, key="key-1")
    second = pos.post("/purchases", body, key="key-1")

    assert first.status_code == 201, first.content
    assert second.content == first.content
    assert Purchase.objects.count() == 1
    assert Member.objects.get(pk=member.pk).points_balance == 10
    record = IdempotencyRecord.objects.get()
    assert record.state == IdempotencyState.DONE


def test_abandoned_key_with_a_different_body_is_still_refused_as_reused(pos, terminal):
    body = _body()
    _record_in_progress(terminal.terminal, "key-1", body, lease_seconds=-1)
    before = written()

    response = pos.post("/purchases", {**body, "total": 5}, key="key-1")

    assert_error(response, 422, "idempotency_key_reused")
    assert written() == before


def test_failed_request_releases_its_key_so_the_same_request_succeeds_later(
    pos, make_member, card_code
):
    member = make_member(points=100)
    body = _body(card=card_code(member), points_to_redeem=300)
    before = written()

    failed = pos.post("/purchases", body, key="key-1")

    assert_error(failed, 409, "points_insufficient")
    assert written() == before
    grant_points(member, 200)

    retried = pos.post("/purchases", body, key="key-1")

    assert retried.status_code == 201, retried.content
    assert retried.json()["points_redeemed"] == 300
    assert Purchase.objects.count() == 1
    assert Member.objects.get(pk=member.pk).points_balance == 0 + 7


def test_failed_request_releases_its_key_for_a_corrected_request(pos, make_member):
    member = make_member(points=100)
    failed = pos.post(
        "/purchases", _body(card=member.card_number, points_to_redeem=50), key="key-1"
    )
    assert_error(failed, 403, "card_code_required")

    corrected = pos.post("/purchases", _body(card=member.card_number), key="key-1")

    assert corrected.status_code == 201, corrected.content
    assert Purchase.objects.count() == 1


def test_idempotency_keys_are_scoped_per_terminal(pos, other_pos, store):
    same_store_terminal = PosClient(
        terminal_create(store_code=store.code, name="register-2").api_key
    )

    a = pos.post("/purchases", _body(receipt_number="R-1"), key="shared")
    b = same_store_terminal.post("/purchases", _body(receipt_number="R-2"), key="shared")
    c = other_pos.post("/purchases", _body(receipt_number="R-1"), key="shared")

    assert (a.status_code, b.status_code, c.status_code) == (201, 201, 201)
    assert len({a.json()["purchase_id"], b.json()["purchase_id"], c.json()["purchase_id"]}) == 3
    assert IdempotencyRecord.objects.filter(key="shared").count() == 3


def test_keys_are_kept_for_at_least_72_hours(pos, make_member):
    member = make_member()
    body = _body(card=member.card_number)
    first = pos.post("/purchases", body, key="key-1")
    idempotency_records_purge()

    with time_machine.travel(timezone.now() + datetime.timedelta(hours=71)):
        idempotency_records_purge()
        replay = pos.post("/purchases", body, key="key-1")

    assert replay.content == first.content
    assert Purchase.objects.count() == 1


def _record(terminal, key: str, *, state: str, age_hours: float) -> IdempotencyRecord:
    created = timezone.now() - datetime.timedelta(hours=age_hours)
    return IdempotencyRecord.objects.create(
        terminal=terminal,
        key=key,
        operation="purchase",
        request_hash="0" * 64,
        state=state,
        lease_expires_at=created + datetime.timedelta(seconds=30),
        response_status=201 if state == IdempotencyState.DONE else None,
        response_body={"purchase_id": 1} if state == IdempotencyState.DONE else None,
        created_at=created,
        completed_at=created if state == IdempotencyState.DONE else None,
    )


def test_purge_idempotency_keys_forgets_only_finished_keys_older_than_72_hours(terminal, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 72
    t = terminal.terminal
    _record(t, "old-done", state=IdempotencyState.DONE, age_hours=73)
    _record(t, "young-done", state=IdempotencyState.DONE, age_hours=71)
    _record(t, "old-in-progress", state=IdempotencyState.IN_PROGRESS, age_hours=100)
    stdout = io.StringIO()

    call_command("purge_idempotency_keys", stdout=stdout)

    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {
        "young-done",
        "old-in-progress",
    }
    assert "purged 1" in stdout.getvalue()


def test_purge_never_forgets_keys_younger_than_72_hours_even_if_configured_lower(
    terminal, settings
):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 1
    _record(terminal.terminal, "two-days", state=IdempotencyState.DONE, age_hours=48)

    assert idempotency_records_purge() == 0
    assert idempotency_records_purge(older_than_hours=1) == 0
    assert IdempotencyRecord.objects.filter(key="two-days").exists()


def test_purge_is_idempotent(terminal):
    _record(terminal.terminal, "ancient", state=IdempotencyState.DONE, age_hours=24 * 30)

    assert idempotency_records_purge() == 1
    assert idempotency_records_purge() == 0
