"""Concurrency guarantees of the POS bridge, shown with real parallel requests.

The HTTP tests send requests from many threads at once, each with its own connection to
the live server and so its own PostgreSQL connection; a barrier releases them together.
The controls replace ``member_lock`` with a plain read (in this process, so in the live
server too) and show the race these tests would catch: paired with the real lock under
the same timing, they show that the lock, not luck, makes the clean outcome.
"""

import contextlib
import datetime
import functools
import io
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict

import pytest
from django.core.management import call_command
from django.db import IntegrityError
from django.db.models import Sum
from django.utils import timezone

from membership.errors import PointsInsufficient
from membership.models import EntryKind, LotConsumption, Member, PointEntry, PointLot
from membership.services import points as points_service
from membership.services.card_codes import card_code_issue
from pos_bridge.models import IdempotencyRecord, Purchase, Refund
from pos_bridge.services.purchases import purchase_record
from tests.conftest import grant_points
from tests.pos_bridge.concurrency_helpers import (
    Call,
    fire_burst,
    fire_together,
    ledger_problem_list,
    purchase_call,
    purchase_points_mismatches,
    refund_call,
    run_in_threads,
    running_balance_breaks,
    send_one,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

IN_PROGRESS = "idempotency_request_in_progress"


def _a_minute_ago() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(minutes=1)


def test_two_concurrent_redemptions_exceeding_the_balance_let_exactly_one_through(
    live_server, terminal, make_member
):
    """Five members at once, each with two codes redeeming 600 of a 1000 balance."""
    members = [make_member(points=1_000) for _ in range(5)]
    calls = [
        purchase_call(
            card=card_code_issue(member=member).code,
            total=1_000,
            points_to_redeem=600,
            label=str(member.pk),
        )
        for member in members
        for _ in range(2)
    ]

    replies = fire_together(live_server.url, terminal.api_key, calls)

    for member in members:
        own = [r for r in replies if r.call.label == str(member.pk)]
        outcomes = sorted((r.status, r.code) for r in own)
        assert outcomes == [(201, None), (409, "points_insufficient")], [r.body for r in own]
        member.refresh_from_db()
        # 1000 - 600 redeemed + 4 earned on the 400 yen paid in money.
        assert member.points_balance == 404
        assert PointEntry.objects.filter(member=member, kind=EntryKind.REDEEM).count() == 1
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


def test_eight_concurrent_redemptions_spend_the_balance_at_most_once(
    live_server, terminal, make_member
):
    member = make_member(points=1_000)
    calls = [
        purchase_call(card=card_code_issue(member=member).code, total=300, points_to_redeem=300)
        for _ in range(8)
    ]

    replies = fire_together(live_server.url, terminal.api_key, calls)

    assert Counter((r.status, r.code) for r in replies) == {
        (201, None): 3,
        (409, "points_insufficient"): 5,
    }
    member.refresh_from_db()
    assert member.points_balance == 100
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


def test_fifty_concurrent_requests_with_one_key_record_one_purchase(
    live_server, terminal, make_member
):
    member = make_member(points=1_000)
    call = purchase_call(
        card=card_code_issue(member=member).code,
        total=2_000,
        points_to_redeem=100,
        items=[
            {"sku": "A-1", "name": "お茶", "category": "drink", "quantity": 2, "unit_price": 1_000}
        ],
    )

    replies = fire_together(live_server.url, terminal.api_key, [call] * 50)

    created = [r for r in replies if r.status == 201]
    others = [r for r in replies if r.status != 201]
    assert created, [r.body for r in replies[:3]]
    assert all(r.body == created[0].body for r in created)
    assert {(r.status, r.code) for r in others} <= {(409, IN_PROGRESS)}
    purchase = Purchase.objects.get(receipt_number=call.body["receipt_number"])
    assert Purchase.objects.count() == 1
    assert purchase.items.count() == 1
    assert created[0].body["purchase_id"] == purchase.pk
    assert PointEntry.objects.filter(reference=f"purchase:{purchase.pk}").count() == 2
    assert PointEntry.objects.filter(kind=EntryKind.EARN).count() == 1
    assert PointEntry.objects.filter(kind=EntryKind.REDEEM).count() == 1
    member.refresh_from_db()
    assert member.points_balance == 1_000 - 100 + 19

    retry = send_one(live_server.url, terminal.api_key, call)

    assert retry.status == 201
    assert retry.body == created[0].body
    assert retry.raw == created[0].raw
    assert Purchase.objects.count() == 1
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


def test_replayed_response_is_byte_identical_to_the_first(live_server, terminal, make_member):
    """Same key and same body: the stored response comes back unchanged, byte for byte."""
    member = make_member()
    call = purchase_call(card=member.card_number, total=1_234)

    first = send_one(live_server.url, terminal.api_key, call)
    replay = send_one(live_server.url, terminal.api_key, call)

    assert first.status == replay.status == 201
    assert replay.body == first.body
    assert replay.raw == first.raw


def test_a_batch_resent_while_the_first_is_running_records_each_purchase_once(
    live_server, terminal, make_member
):
    """Four copies of one offline batch at once: every sale is recorded by exactly one."""
    members = [make_member() for _ in range(3)]
    two_hours_ago = (timezone.now() - datetime.timedelta(hours=2)).isoformat()
    items = [
        {
            "idempotency_key": f"offline-{i}",
            "receipt_number": f"OFF-{i}",
            "occurred_at": two_hours_ago,
            "total": 1_000 + i,
            "card": members[i % 3].card_number,
        }
        for i in range(30)
    ]
    batch = Call("/purchases/batch", {"purchases": items}, label="batch")

    replies = fire_together(live_server.url, terminal.api_key, [batch] * 4)

    assert [r.status for r in replies] == [200] * 4, [r.body for r in replies]
    for index in range(30):
        results = [r.body["results"][index] for r in replies]
        created = [x["body"] for x in results if x["status"] == 201]
        assert created and all(body == created[0] for body in created), results
        refused = [(x["status"], x["body"]["code"]) for x in results if x["status"] != 201]
        assert set(refused) <= {(409, IN_PROGRESS)}, results
    assert Purchase.objects.count() == 30
    assert PointEntry.objects.filter(kind=EntryKind.EARN).count() == 30
    for member in members:
        member.refresh_from_db()
        assert member.points_balance == 10 * 10
    assert purchase_points_mismatches(granted={}) == []
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


def test_one_key_with_different_bodies_at_once_records_one_purchase(
    live_server, terminal, make_member
):
    """A key reused for other requests while the first runs: one runs, the rest are refused
    as in progress or as a reused key, never a second purchase or a 500."""
    member = make_member()
    calls = [
        purchase_call(key="shared-key", card=member.card_number, total=1_000 + i) for i in range(10)
    ]

    replies = fire_together(live_server.url, terminal.api_key, calls)

    outcomes = Counter((r.status, r.code) for r in replies)
    assert outcomes[(201, None)] == 1, outcomes
    assert set(outcomes) <= {(201, None), (409, IN_PROGRESS), (422, "idempotency_key_reused")}
    assert Purchase.objects.count() == 1
    assert ledger_problem_list() == []


def test_one_card_code_in_concurrent_purchases_is_used_once(live_server, terminal, make_member):
    member = make_member(points=1_000)
    code = card_code_issue(member=member).code
    calls = [purchase_call(card=code, total=500, points_to_redeem=100) for _ in range(6)]

    replies = fire_together(live_server.url, terminal.api_key, calls)

    assert Counter((r.status, r.code) for r in replies) == {
        (201, None): 1,
        (409, "card_code_used"): 5,
    }, [r.body for r in replies]
    member.refresh_from_db()
    assert member.points_balance == 1_000 - 100 + 4
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


@pytest.mark.parametrize("with_member", [True, False], ids=["member", "guest"])
def test_concurrent_same_receipt_under_different_keys_records_it_once(
    live_server, terminal, make_member, with_member
):
    member = make_member()
    card = {"card": member.card_number} if with_member else {}
    calls = [purchase_call(receipt_number="R-0001", total=5_000, **card) for _ in range(10)]

    replies = fire_together(live_server.url, terminal.api_key, calls)

    assert Counter((r.status, r.code) for r in replies) == {
        (201, None): 1,
        (409, "duplicate_receipt"): 9,
    }, [r.body for r in replies]
    assert Purchase.objects.filter(receipt_number="R-0001").count() == 1
    member.refresh_from_db()
    assert member.points_balance == (50 if with_member else 0)
    # Losers released their keys: nothing is left in progress.
    assert not IdempotencyRecord.objects.filter(state="in_progress").exists()
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


@pytest.mark.parametrize(
    ("amount", "requests", "winners"),
    [(300, 8, 3), (1_000, 6, 1)],
    ids=["partial_refunds", "full_refunds"],
)
def test_concurrent_refunds_never_exceed_the_purchase_total(
    live_server, terminal, make_member, amount, requests, winners
):
    member = make_member(points=1_000)
    bought = send_one(
        live_server.url,
        terminal.api_key,
        purchase_call(card=card_code_issue(member=member).code, total=1_000, points_to_redeem=200),
    )
    assert bought.status == 201, bought.body
    purchase_id = bought.body["purchase_id"]
    calls = [refund_call(purchase_id, amount=amount) for _ in range(requests)]

    replies = fire_together(live_server.url, terminal.api_key, calls)

    assert Counter((r.status, r.code) for r in replies) == {
        (201, None): winners,
        (409, "refund_exceeds_purchase"): requests - winners,
    }, [r.body for r in replies]
    purchase = Purchase.objects.get(pk=purchase_id)
    assert purchase.refunded_amount == amount * winners <= purchase.total
    assert Refund.objects.filter(purchase=purchase).count() == winners
    refunded = amount * winners
    assert purchase.points_restored == 200 * refunded // 1_000
    assert purchase.points_reversed + purchase.points_unrecovered == 8 * refunded // 1_000
    assert purchase_points_mismatches(granted={member.pk: 1_000}) == []
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


# Outcomes each kind of request in the burst may have besides 201.
_BURST_REFUSALS = {
    "earn": {"duplicate_receipt", IN_PROGRESS},
    "guest": {"duplicate_receipt", IN_PROGRESS},
    "redeem": {"points_insufficient", "duplicate_receipt", IN_PROGRESS},
    "duplicate_receipt": {"duplicate_receipt", IN_PROGRESS},
    "refund": {"refund_exceeds_purchase", "duplicate_receipt", IN_PROGRESS},
    "duplicate_refund_receipt": {"refund_exceeds_purchase", "duplicate_receipt", IN_PROGRESS},
}


def test_mixed_burst_keeps_the_ledger_consistent(live_server, terminal, make_member):
    """200 requests at concurrency 16 on five members: purchases earning and redeeming,
    guests, refunds, reused receipt numbers and retried keys."""
    rng = random.Random(20_240_601)
    members = [make_member(points=3_000) for _ in range(5)]
    granted = {m.pk: 3_000 for m in members}
    earlier = [
        purchase_record(
            terminal=terminal.terminal,
            receipt_number=f"E-{i}",
            occurred_at=_a_minute_ago(),
            total=rng.randrange(1_000, 6_000, 10),
            card=members[i % 5].card_number if i < 15 else None,
        )
        for i in range(18)
    ]
    earlier_ids = {p.pk for p in earlier}

    calls: list[Call] = []
    for _ in range(200):
        roll, member = rng.random(), rng.choice(members)
        recent = calls[-10:]
        if roll < 0.25:
            calls.append(
                purchase_call(
                    card=member.card_number, total=rng.randrange(100, 5_000), label="earn"
                )
            )
        elif roll < 0.5:
            points = rng.randrange(100, 1_500)
            calls.append(
                purchase_call(
                    card=card_code_issue(member=member).code,
                    total=points + rng.randrange(0, 3_000),
                    points_to_redeem=points,
                    label="redeem",
                )
            )
        elif roll < 0.55:
            calls.append(purchase_call(total=rng.randrange(100, 5_000), label="guest"))
        elif roll < 0.73:
            target = rng.choice(earlier)
            calls.append(refund_call(target.pk, amount=rng.randrange(100, 1_500), label="refund"))
        elif roll < 0.85:
            purchases_before = [c for c in recent if c.path == "/purchases"]
            refunds_before = [c for c in recent if c.label == "refund"]
            if refunds_before and rng.random() < 0.3:
                calls.append(
                    refund_call(
                        rng.choice(earlier).pk,
                        amount=100,
                        refund_receipt_number=rng.choice(refunds_before).body[
                            "refund_receipt_number"
                        ],
                        label="duplicate_refund_receipt",
                    )
                )
            else:
                receipt = (
                    rng.choice(purchases_before).body["receipt_number"]
                    if purchases_before
                    else rng.choice(earlier).receipt_number
                )
                calls.append(
                    purchase_call(
                        receipt_number=receipt,
                        card=member.card_number,
                        total=rng.randrange(100, 5_000),
                        label="duplicate_receipt",
                    )
                )
        elif recent:
            # A POS retrying: the very same request, key and body.
            calls.append(rng.choice(recent))
        else:
            calls.append(purchase_call(total=100, label="guest"))

    started = time.monotonic()
    replies = fire_burst(live_server.url, terminal.api_key, calls, concurrency=16)
    elapsed = time.monotonic() - started

    assert elapsed < 60
    server_errors = [(r.call.label, r.status, r.body) for r in replies if r.status >= 500]
    assert server_errors == []
    unexpected = [
        (r.call.label, r.status, r.body)
        for r in replies
        if r.status != 201 and not (r.status == 409 and r.code in _BURST_REFUSALS[r.call.label])
    ]
    assert unexpected == []
    by_key = defaultdict(list)
    for reply in replies:
        if reply.status == 201:
            by_key[reply.call.key].append(reply.body)
    assert all(all(b == bodies[0] for b in bodies) for bodies in by_key.values())
    succeeded = Counter(r.call.label for r in replies if r.status == 201)
    assert succeeded["earn"] and succeeded["redeem"] and succeeded["refund"], succeeded

    purchase_ids = {
        r.body["purchase_id"] for r in replies if r.status == 201 and r.call.path == "/purchases"
    }
    refund_ids = {r.body["refund_id"] for r in replies if r.status == 201 and "refund_id" in r.body}
    assert set(Purchase.objects.values_list("pk", flat=True)) == purchase_ids | earlier_ids
    assert set(Refund.objects.values_list("pk", flat=True)) == refund_ids
    assert not Member.objects.filter(points_balance__lt=0).exists()
    assert not IdempotencyRecord.objects.filter(state="in_progress").exists()
    assert purchase_points_mismatches(granted=granted) == []
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


def _patch_member_lock(monkeypatch, *, row_lock: bool) -> list[int]:
    """Replace ``member_lock`` everywhere it is bound with one that, after reading the
    member, waits until the other thread has read it too (at most a second). With
    ``row_lock`` the read is the real ``member_lock``; without, a plain SELECT.

    Without the lock both reads then happen before either write, every time (a fixed
    0.2 s sleep missed the window about once in a dozen runs on a busy machine). With the
    lock the other thread cannot read, so the wait times out and the first goes on.
    Returns the list that records each call, to show the replacement was used.
    """
    original = points_service.member_lock
    both_read = threading.Barrier(2, timeout=1.0)
    calls: list[int] = []

    def member_lock(member_id: int) -> Member:
        if row_lock:
            member = original(member_id)
        else:
            member = Member.objects.select_related("tier").get(pk=member_id)
        calls.append(member_id)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return member

    for name, module in list(sys.modules.items()):
        app = name.split(".")[0]
        if app in {"membership", "pos_bridge"} and getattr(module, "member_lock", None) is original:
            monkeypatch.setattr(module, "member_lock", member_lock)
    return calls


def _race_two_redemptions(monkeypatch, *, terminal, member, points_each, row_lock):
    calls = _patch_member_lock(monkeypatch, row_lock=row_lock)
    results = run_in_threads(
        [
            functools.partial(
                purchase_record,
                terminal=terminal,
                receipt_number=f"C-{i}",
                occurred_at=_a_minute_ago(),
                total=points_each,
                card=card_code_issue(member=member).code,
                points_to_redeem=points_each,
            )
            for i in range(2)
        ]
    )
    assert calls == [member.pk, member.pk], "each redemption must go through member_lock"
    return results


def _outcome(result) -> str:
    if isinstance(result, IntegrityError):
        return f"IntegrityError({'member_balance_not_negative' in str(result)})"
    return type(result).__name__


@pytest.mark.parametrize("row_lock", [True, False], ids=["member_row_lock", "control_no_lock"])
def test_member_row_lock_is_what_refuses_an_overdrawing_redemption(
    monkeypatch, terminal, make_member, row_lock
):
    """Two redemptions of 600 on a balance of 1000, both paused after reading the member.

    With the row lock the second waits and then fails the balance check. Without it (the
    control) both pass the check on a stale balance and only the database constraint
    ``member_balance_not_negative`` stops the second: the lock is what makes it clean.
    """
    member = make_member(points=1_000)

    results = _race_two_redemptions(
        monkeypatch, terminal=terminal.terminal, member=member, points_each=600, row_lock=row_lock
    )

    outcomes = sorted(_outcome(r) for r in results)
    if row_lock:
        assert outcomes == ["PointsInsufficient", "Purchase"], results
        assert any(isinstance(r, PointsInsufficient) for r in results)
    else:
        assert outcomes == ["IntegrityError(True)", "Purchase"], results
    member.refresh_from_db()
    assert member.points_balance == 400
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []


@pytest.mark.parametrize("row_lock", [True, False], ids=["member_row_lock", "control_no_lock"])
def test_member_row_lock_keeps_the_ledger_in_order_under_concurrent_redemptions(
    monkeypatch, terminal, make_member, row_lock
):
    """Two redemptions of 300 on a balance of 1000: both are allowed.

    With the row lock the second sees the first one's balance and the entries chain
    (700, then 400). Without it (the control) both work from the same stale balance and
    both entries claim 700 left; when their lot reads also overlap, one 300-point take
    from the lot is lost as well.
    """
    member = make_member(points=1_000)

    results = _race_two_redemptions(
        monkeypatch, terminal=terminal.terminal, member=member, points_each=300, row_lock=row_lock
    )

    assert sorted(_outcome(r) for r in results) == ["Purchase", "Purchase"], results
    member.refresh_from_db()
    assert member.points_balance == 400
    redemptions = PointEntry.objects.filter(member=member, kind=EntryKind.REDEEM).order_by("pk")
    balances_after = [e.balance_after for e in redemptions]
    if row_lock:
        assert balances_after == [700, 400]
        assert running_balance_breaks() == []
        assert ledger_problem_list() == []
    else:
        assert balances_after == [700, 700]
        assert running_balance_breaks() != []


@pytest.mark.parametrize("row_lock", [True, False], ids=["member_row_lock", "control_no_lock"])
def test_member_row_lock_is_what_keeps_concurrent_http_redemptions_clean(
    monkeypatch, live_server, terminal, make_member, row_lock
):
    """The first test's race through the API, with ``member_lock`` replaced in the live
    server's process: with the real lock one request is refused with 409; without it (the
    control) both pass the balance check and the constraint turns the second into a 500."""
    member = make_member(points=1_000)
    calls = _patch_member_lock(monkeypatch, row_lock=row_lock)
    requests = [
        purchase_call(card=card_code_issue(member=member).code, total=600, points_to_redeem=600)
        for _ in range(2)
    ]

    replies = fire_together(live_server.url, terminal.api_key, requests)

    assert calls == [member.pk, member.pk]
    statuses = sorted((r.status, r.code) for r in replies)
    if row_lock:
        assert statuses == [(201, None), (409, "points_insufficient")]
    else:
        assert statuses == [(201, None), (500, None)]
    member.refresh_from_db()
    assert member.points_balance == 400
    assert ledger_problem_list() == []


def test_concurrent_expiry_runs_expire_each_lot_once_around_a_redemption(
    live_server, terminal, make_member
):
    """Two ``expire_points`` runs and a purchase redeeming points, all at once."""
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    member = make_member()
    for _ in range(5):
        grant_points(member, 100, expires_on=yesterday)
    grant_points(member, 1_000)
    others = [make_member() for _ in range(30)]
    for other in others:
        grant_points(other, 50, expires_on=yesterday)
        grant_points(other, 50, expires_on=yesterday)
    expired_lots = list(PointLot.objects.filter(expires_on=yesterday))
    call = purchase_call(card=card_code_issue(member=member).code, total=800, points_to_redeem=800)
    outputs = [io.StringIO(), io.StringIO()]

    results = run_in_threads(
        [
            functools.partial(call_command, "expire_points", stdout=outputs[0]),
            functools.partial(call_command, "expire_points", stdout=outputs[1]),
            functools.partial(send_one, live_server.url, terminal.api_key, call),
        ]
    )

    assert not any(isinstance(r, Exception) for r in results), results
    assert results[2].status == 201, results[2].body
    for lot in expired_lots:
        lot.refresh_from_db()
        assert lot.remaining == 0
        assert PointEntry.objects.filter(reference=f"lot:{lot.pk}").count() <= 1
    expire_entries = PointEntry.objects.filter(kind=EntryKind.EXPIRE)
    reported = sum(int(re.findall(r"\d+", out.getvalue())[0]) for out in outputs)
    assert reported == -sum(e.delta for e in expire_entries)
    member_expired = -sum(e.delta for e in expire_entries.filter(member=member))
    # Whatever the redemption did not take from the lots that were due, expiry took, once.
    redeemed_from_due = LotConsumption.objects.filter(
        entry__kind=EntryKind.REDEEM, lot__in=expired_lots
    ).aggregate(points=Sum("points"))["points"]
    assert member_expired + (redeemed_from_due or 0) == 500
    member.refresh_from_db()
    assert member.points_balance == 1_500 - 800 - member_expired
    assert not Member.objects.filter(pk__in=[o.pk for o in others], points_balance__gt=0).exists()
    assert ledger_problem_list() == []
    assert running_balance_breaks() == []
