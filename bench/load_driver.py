"""Drive POS purchases against a running server and print latency statistics as JSON.

Runs in its own process so that the load generator never shares an interpreter (or a GIL)
with the server it measures. Two modes:

- ``closed``: ``--concurrency`` threads each send the next purchase as soon as the previous
  one answered. Measures the maximum throughput at that concurrency.
- ``open``: purchases are due on a fixed schedule (``--rate`` per second) whether or not
  earlier ones have answered. Latency is measured from the *scheduled* send time, so a
  stalled server is charged for the queue it builds (no coordinated omission).

Only stdlib ``http.client`` is used: it costs the least CPU per request on a 2-core machine
where the client competes with gunicorn and PostgreSQL. Every loop is bounded by the number
of purchases and by ``--max-seconds``. The target must be a loopback address.

Usage (normally started by ``bench_purchases.py``)::

    python bench/load_driver.py --url http://127.0.0.1:8000 --api-key KEY \
        --cards-file cards.txt --mode open --rate 200 --count 6000
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import ipaddress
import json
import math
import random
import resource
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

PURCHASE_PATH = "/api/pos/v1/purchases"
# The framework floor: authentication and a JSON reply, no SQL (see bench/README.md).
TERMINAL_PATH = "/api/pos/v1/terminal"
JST = datetime.timezone(datetime.timedelta(hours=9))
# Items a drugstore till might send; totals are the exact sum of the lines.
CATALOGUE = [
    ("4901234567894", "保湿クリーム", "cosmetics", 1280),
    ("4909876543210", "ハンドソープ詰替", "household", 398),
    ("4901111222233", "目薬", "medicine", 780),
    ("4902222333344", "ミネラルウォーター 2L", "food", 128),
    ("4903333444455", "ビタミンC 60日分", "supplements", 1580),
    ("4904444555566", "ティッシュ 5箱", "household", 348),
    ("4905555666677", "日焼け止め", "cosmetics", 1680),
    ("4906666777788", "のど飴", "food", 198),
]


@dataclass
class PhaseResult:
    latencies_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    reconnects: int = 0
    ok_status: str = "201"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: str, latency_ms: float, service_ms: float, detail: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status == self.ok_status:
                self.latencies_ms.append(latency_ms)
                self.service_ms.append(service_ms)
            elif len(self.error_samples) < 5:
                self.error_samples.append(f"{status}: {detail[:300]}")


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "p50_ms": rounded(percentile(ordered, 0.50)),
        "p95_ms": rounded(percentile(ordered, 0.95)),
        "p99_ms": rounded(percentile(ordered, 0.99)),
        "max_ms": rounded(ordered[-1] if ordered else None),
        "mean_ms": rounded(sum(ordered) / len(ordered) if ordered else None),
    }


def purchase_bodies(
    *, count: int, run_tag: str, cards: list[str], member_share: float, seed: int
) -> list[tuple[str, bytes]]:
    """Build every request up front so that the timed loop only sends bytes."""
    rng = random.Random(seed)
    now = datetime.datetime.now(JST).replace(microsecond=0)
    bodies = []
    for index in range(count):
        lines = rng.sample(CATALOGUE, k=rng.randint(1, 3))
        items = [
            {
                "sku": sku,
                "name": name,
                "category": category,
                "quantity": rng.randint(1, 3),
                "unit_price": price,
            }
            for sku, name, category, price in lines
        ]
        body: dict[str, object] = {
            "receipt_number": f"{run_tag}-{index:07d}",
            "occurred_at": (now - datetime.timedelta(seconds=count - index)).isoformat(),
            "total": sum(item["quantity"] * item["unit_price"] for item in items),
            "items": items,
            "points_to_redeem": 0,
        }
        if cards and rng.random() < member_share:
            body["card"] = rng.choice(cards)
        key = f"{run_tag}-{index:07d}"
        bodies.append((key, json.dumps(body, ensure_ascii=False).encode()))
    return bodies


class NoDelayConnection(http.client.HTTPConnection):
    """Disables Nagle so that a small request never waits for a delayed ACK (~40 ms)."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Sender:
    """One keep-alive connection per thread; reconnects when the server closes it."""

    def __init__(self, *, host: str, port: int, api_key: str, timeout: float) -> None:
        self.connection = NoDelayConnection(host, port, timeout=timeout)
        self.base_headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Host": f"{host}:{port}",
        }
        self.used = False

    def post(self, idempotency_key: str, body: bytes, result: PhaseResult) -> tuple[str, str]:
        """POST a purchase, or with an empty body GET the terminal (the floor request)."""
        headers = {**self.base_headers, "Idempotency-Key": idempotency_key}
        method, path = ("POST", PURCHASE_PATH) if body else ("GET", TERMINAL_PATH)
        for attempt in (1, 2):
            reused = self.used and self.connection.sock is not None
            try:
                self.connection.request(method, path, body=body or None, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
                self.used = True
                if response.will_close:
                    self.connection.close()
                return str(response.status), payload.decode(errors="replace")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.connection.close()
                # A keep-alive connection the server timed out just before reuse. Retrying is
                # safe: the same Idempotency-Key makes a duplicate a replay, not a second sale.
                if reused and attempt == 1:
                    with result.lock:
                        result.reconnects += 1
                    continue
                return "connection_error", repr(exc)
            except TimeoutError as exc:
                self.connection.close()
                return "timeout", repr(exc)
            except OSError as exc:
                self.connection.close()
                return "os_error", repr(exc)
        return "connection_error", "retry exhausted"


def run_phase(
    *,
    mode: str,
    bodies: list[tuple[str, bytes]],
    threads: int,
    rate: float,
    host: str,
    port: int,
    api_key: str,
    timeout: float,
    max_seconds: float,
    ok_status: str = "201",
) -> dict[str, object]:
    result = PhaseResult(ok_status=ok_status)
    next_index = iter(range(len(bodies)))
    index_lock = threading.Lock()
    start = time.perf_counter() + 0.2  # lets every thread reach its loop before the clock runs
    deadline = start + max_seconds
    finished_at: list[float] = []
    started = threading.Barrier(threads + 1)

    def worker() -> None:
        sender = Sender(host=host, port=port, api_key=api_key, timeout=timeout)
        started.wait()
        # Every thread starts on the clock: a closed-loop request sent before ``start``
        # would be counted in the rate but not in the elapsed time.
        pause = start - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        last_end = start
        while True:
            with index_lock:
                index = next(next_index, None)
            if index is None:
                break
            scheduled = start + index / rate if mode == "open" else None
            if scheduled is not None:
                pause = scheduled - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            sent = time.perf_counter()
            if sent > deadline:
                break
            status, detail = sender.post(*bodies[index], result)
            last_end = time.perf_counter()
            latency = (last_end - (scheduled if scheduled is not None else sent)) * 1000
            result.record(status, latency, (last_end - sent) * 1000, detail)
        with index_lock:
            finished_at.append(last_end)
        sender.connection.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    started.wait()
    for thread in pool:
        thread.join(timeout=max_seconds + timeout + 5)
    elapsed = max([*finished_at, start]) - start
    ok = len(result.latencies_ms)
    sent_total = sum(result.statuses.values())
    summary: dict[str, object] = {
        "mode": mode,
        "threads": threads,
        "offered_rate": rate if mode == "open" else None,
        "planned": len(bodies),
        "sent": sent_total,
        "ok": ok,
        "errors": sent_total - ok,
        "not_sent": len(bodies) - sent_total,
        "statuses": dict(result.statuses),
        "error_samples": result.error_samples,
        "reconnects": result.reconnects,
        "elapsed_s": round(elapsed, 3),
        "ok_per_s": round(ok / elapsed, 1) if elapsed > 0 else None,
        "latency": latency_summary(result.latencies_ms),
    }
    if mode == "open":
        # Service time starts when the request actually left; it hides client-side queueing.
        summary["service_time"] = latency_summary(result.service_ms)
    return summary


def parse_loopback_url(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to send load to a non-loopback address: {host}")
    return host, parts.port or 80


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="server root, loopback only")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--cards-file", help="member card numbers, one per line")
    parser.add_argument("--member-share", type=float, default=0.8)
    parser.add_argument("--mode", choices=["open", "closed"], required=True)
    parser.add_argument(
        "--request",
        choices=["purchase", "terminal"],
        default="purchase",
        help="terminal: GET /terminal instead, the cost of the framework alone",
    )
    parser.add_argument("--count", type=int, required=True, help="purchases to send")
    parser.add_argument("--concurrency", type=int, default=8, help="threads (closed loop)")
    parser.add_argument("--rate", type=float, default=200.0, help="purchases/s (open loop)")
    parser.add_argument("--open-threads", type=int, default=64, help="threads (open loop)")
    parser.add_argument("--run-tag", required=True, help="unique prefix for receipts and keys")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="phase time limit")
    args = parser.parse_args(argv)

    host, port = parse_loopback_url(args.url)
    cards = []
    if args.cards_file:
        with open(args.cards_file, encoding="utf-8") as handle:
            cards = [line.strip() for line in handle if line.strip()]
    if args.request == "terminal":
        bodies = [(f"{args.run_tag}-{index:07d}", b"") for index in range(args.count)]
    else:
        bodies = purchase_bodies(
            count=args.count,
            run_tag=args.run_tag,
            cards=cards,
            member_share=args.member_share,
            seed=args.seed,
        )
    threads = args.concurrency if args.mode == "closed" else args.open_threads
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    summary = run_phase(
        mode=args.mode,
        bodies=bodies,
        threads=max(1, threads),
        rate=args.rate,
        host=host,
        port=port,
        api_key=args.api_key,
        timeout=args.timeout,
        max_seconds=args.max_seconds,
        ok_status="200" if args.request == "terminal" else "201",
    )
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    summary["driver_cpu_s"] = round(
        (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime), 2
    )
    summary["member_purchases"] = sum(1 for _key, body in bodies if b'"card"' in body)
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
