"""Firing real parallel requests at the live server, and ledger checks for the results.

Every worker thread has its own httpx client, hence its own TCP connection, its own
live-server request thread and its own database connection: the requests race for real
rows and locks, not for a shared test transaction.
"""

import datetime
import queue
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.db import connections
from django.db.models import Sum
from django.utils import timezone

from membership.models import EntryKind, Member, PointEntry
from membership.selectors import ledger_problems
from pos_bridge.models import Purchase, Refund

# Bounds for every wait, so a deadlock fails the test instead of hanging the run.
BARRIER_TIMEOUT = 20.0
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Call:
    """One POS API request: path under /api/pos/v1, JSON body, Idempotency-Key."""

    path: str
    body: dict[str, Any]
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    label: str = ""


@dataclass(frozen=True)
class Reply:
    call: Call
    status: int
    body: Any
    # The raw bytes, for comparing replayed responses exactly.
    raw: bytes

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


def purchase_call(*, key: str | None = None, label: str = "", **body: Any) -> Call:
    body.setdefault("receipt_number", f"R-{uuid.uuid4().hex[:12]}")
    body.setdefault("occurred_at", (timezone.now() - datetime.timedelta(minutes=1)).isoformat())
    return Call("/purchases", body, key or str(uuid.uuid4()), label or "purchase")


def refund_call(purchase_id: int, *, key: str | None = None, label: str = "", **body: Any) -> Call:
    body.setdefault("refund_receipt_number", f"RR-{uuid.uuid4().hex[:12]}")
    body.setdefault("occurred_at", timezone.now().isoformat())
    return Call(
        f"/purchases/{purchase_id}/refunds", body, key or str(uuid.uuid4()), label or "refund"
    )


def _client(base_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base_url}/api/pos/v1",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=REQUEST_TIMEOUT,
    )


def _send(client: httpx.Client, call: Call) -> Reply:
    response = client.post(call.path, json=call.body, headers={"Idempotency-Key": call.key})
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Reply(call=call, status=response.status_code, body=body, raw=response.content)


# The live server's listen backlog is 10 (django.core.servers.basehttp.WSGIServer): fifty
# simultaneous connects overflow it and get reset. Each worker therefore opens its
# keep-alive connection beforehand, a few at a time, and only the requests race.
_connecting = threading.BoundedSemaphore(4)


def _connect(client: httpx.Client) -> None:
    with _connecting:
        response = client.get("/purchases/0")
    assert response.status_code == 404, response.text
    assert response.headers.get("connection") != "close", "the connection would not be reused"


def send_one(base_url: str, api_key: str, call: Call) -> Reply:
    with _client(base_url, api_key) as client:
        return _send(client, call)


def fire_together(base_url: str, api_key: str, calls: Sequence[Call]) -> list[Reply]:
    """Send every call at once: one thread and connection each, released by one barrier.

    Returns the replies in the order of ``calls``.
    """
    barrier = threading.Barrier(len(calls), timeout=BARRIER_TIMEOUT)

    def work(call: Call) -> Reply:
        with _client(base_url, api_key) as client:
            _connect(client)
            barrier.wait()
            return _send(client, call)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(work, calls))


def fire_burst(
    base_url: str, api_key: str, calls: Sequence[Call], *, concurrency: int
) -> list[Reply]:
    """Send ``calls`` from ``concurrency`` workers that keep that many requests in flight.

    Workers start together (barrier) and take calls in order from a shared queue, so calls
    that are close in the list run at the same time. Returns replies in call order.
    """
    pending: queue.Queue[tuple[int, Call]] = queue.Queue()
    for index, call in enumerate(calls):
        pending.put((index, call))
    replies: list[Reply | None] = [None] * len(calls)
    barrier = threading.Barrier(concurrency, timeout=BARRIER_TIMEOUT)

    def work() -> None:
        with _client(base_url, api_key) as client:
            _connect(client)
            barrier.wait()
            for _ in range(len(calls)):
                try:
                    index, call = pending.get_nowait()
                except queue.Empty:
                    return
                replies[index] = _send(client, call)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(work) for _ in range(concurrency)]:
            future.result()
    assert all(r is not None for r in replies)
    return [r for r in replies if r is not None]


def run_in_threads(functions: Sequence[Callable[[], Any]]) -> list[Any]:
    """Call each function in its own thread, released together by a barrier.

    Each thread uses its own database connection (Django's are per thread) and closes it
    at the end. Returns each function's result, or the exception it raised.
    """
    barrier = threading.Barrier(len(functions), timeout=BARRIER_TIMEOUT)

    def work(function: Callable[[], Any]) -> Any:
        try:
            barrier.wait()
            return function()
        except Exception as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(functions)) as pool:
        return list(pool.map(work, functions, timeout=BARRIER_TIMEOUT + REQUEST_TIMEOUT))


def ledger_problem_list() -> list[str]:
    return [str(p) for p in ledger_problems()]


def running_balance_breaks() -> list[str]:
    """Entries whose ``balance_after`` is not the previous one plus their delta.

    Entries of one member are written under that member's row lock, so id order is the
    order they happened in. ``check_ledger`` does not look at ``balance_after``.
    """
    breaks = []
    balances: dict[int, int] = defaultdict(int)
    for entry in PointEntry.objects.order_by("pk").values(
        "pk", "member_id", "delta", "balance_after"
    ):
        balances[entry["member_id"]] += entry["delta"]
        if entry["balance_after"] != balances[entry["member_id"]]:
            breaks.append(
                f"entry {entry['pk']}: balance_after {entry['balance_after']} != "
                f"{balances[entry['member_id']]}"
            )
    return breaks


def _sum(queryset, column: str) -> int:
    return queryset.aggregate(total=Sum(column))["total"] or 0


def purchase_points_mismatches(*, granted: dict[int, int]) -> list[str]:
    """Per member, the ledger must hold exactly what the purchases and refunds say.

    ``granted`` is the points each member was given outside purchases (member id → points).
    """
    problems = []
    for member in Member.objects.order_by("pk"):
        purchases = Purchase.objects.filter(member=member)
        entries = PointEntry.objects.filter(member=member)
        reversals = entries.filter(kind=EntryKind.REVERSAL)
        expected = {
            "earned": _sum(purchases, "points_earned"),
            "redeemed": _sum(purchases, "points_redeemed"),
            "restored": _sum(purchases, "points_restored"),
            "reversed": _sum(purchases, "points_reversed"),
        }
        actual = {
            "earned": _sum(entries.filter(kind=EntryKind.EARN), "delta"),
            "redeemed": -_sum(entries.filter(kind=EntryKind.REDEEM), "delta"),
            "restored": _sum(reversals.filter(delta__gt=0), "delta"),
            "reversed": -_sum(reversals.filter(delta__lt=0), "delta"),
        }
        if expected != actual:
            problems.append(f"member {member.pk}: purchases say {expected}, ledger {actual}")
        balance = granted.get(member.pk, 0) + (
            expected["earned"] - expected["redeemed"] + expected["restored"] - expected["reversed"]
        )
        if member.points_balance != balance:
            problems.append(f"member {member.pk}: balance {member.points_balance} != {balance}")
    for purchase in Purchase.objects.order_by("pk"):
        refunds = Refund.objects.filter(purchase=purchase)
        refunded = _sum(refunds, "amount")
        if purchase.refunded_amount != refunded or refunded > purchase.total:
            problems.append(
                f"purchase {purchase.pk}: refunded_amount {purchase.refunded_amount}, "
                f"refund rows {refunded}, total {purchase.total}"
            )
        for column in ("points_restored", "points_reversed", "points_unrecovered"):
            if getattr(purchase, column) != _sum(refunds, column):
                problems.append(f"purchase {purchase.pk}: {column} != sum over its refunds")
    return problems
