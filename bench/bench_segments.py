"""Segment and campaign-queueing benchmark with chain-scale data on PostgreSQL.

Loads 1,000,000 members and 2,000,000 purchases with ``generate_demo_data`` into its own
database (or reuses one already loaded), then, each part in a fresh process with
``DEBUG=0``:

1. **Live counts**: requests ``/hq/segments/count.json`` (what the segment form calls as it
   is edited) through Django's test client as an HQ admin for seven realistic segments;
   median, max and SQL statements per request over ``--runs`` timed requests each.
2. **The background job**: saves a segment "everyone linked" and a broadcast to it,
   schedules it now and runs ``broadcasts_run_due`` (the broadcast part of
   ``run_message_jobs``) in passes of ``--pass-batches`` batches, as the looping command
   does, until the whole segment is queued. Nothing is delivered (no outbox worker). Prints
   total seconds, recipients/s, batches, the rate of the first and last passes and the peak
   RSS of the process, then checks that there is one ``BroadcastRecipient`` per member of
   the segment, at most 500 per batch, and exactly one multicast outbox row per batch
   carrying that batch's recipients. The broadcast, its rows and its outbox rows are
   deleted afterwards unless ``--keep-broadcast``.

    .venv/bin/python bench/bench_segments.py                  # load if needed, measure
    .venv/bin/python bench/bench_segments.py --drop           # drop the database afterwards
    .venv/bin/python bench/bench_segments.py --explain        # EXPLAIN ANALYZE every count
    .venv/bin/python bench/bench_segments.py --db bench_seg_small --members 20000 --purchases 40000
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench_env import app_env, database_url, manage

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
COUNT_TARGET_SECONDS = 1.0
QUEUE_TARGET_SECONDS_PER_MILLION = 600.0
BENCH_USER = "bench-segments"
BENCH_NAME = "bench-segments everyone linked"


# --- parent: database and child processes ----------------------------------------------------


def psql(server_url: str, sql: str, db: str = "postgres") -> str:
    out = subprocess.run(
        ["psql", database_url(server_url, db), "-Atc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip()


def database_ready(args: argparse.Namespace) -> str:
    """The benchmark database's URL: created, migrated and loaded unless already loaded."""
    exists = psql(args.server_url, f"SELECT 1 FROM pg_database WHERE datname = '{args.db}'")
    if not exists:
        psql(args.server_url, f'CREATE DATABASE "{args.db}"')
    url = database_url(args.server_url, args.db)
    env = app_env(url, without_celery=True)
    manage(env, "migrate", "-v0")
    loaded = psql(
        args.server_url, "SELECT count(*) FROM pos_bridge_store WHERE code LIKE 'demo-%'", args.db
    )
    if loaded == "0":
        print(f"loading {args.members:,} members / {args.purchases:,} purchases ...", flush=True)
        seconds = manage(
            env,
            "generate_demo_data",
            f"--members={args.members}",
            f"--purchases={args.purchases}",
        )
        print(f"generate_demo_data (with the full roll-up): {seconds:.0f} s", flush=True)
    else:
        print("demo data already loaded: reusing it", flush=True)
    # A database in steady state: statistics and visibility maps (index-only scans) as
    # autovacuum would leave them. Autovacuum may be off or behind after a bulk load; on an
    # already vacuumed database this takes seconds.
    began = time.monotonic()
    psql(args.server_url, "VACUUM (ANALYZE)", args.db)
    print(f"VACUUM (ANALYZE): {time.monotonic() - began:.0f} s", flush=True)
    return url


def cpu_busy_share(seconds: float = 2.0) -> float:
    """Share of all cores busy over ``seconds`` (Linux /proc/stat); 0.0 where unavailable."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        return sum(fields) - fields[3] - fields[4], sum(fields)  # busy, all (idle, iowait)

    try:
        busy_before, total_before = sample()
        time.sleep(seconds)
        busy_after, total_after = sample()
    except OSError:
        return 0.0
    elapsed = total_after - total_before
    return (busy_after - busy_before) / elapsed if elapsed else 0.0


def machine_wait_quiet(args: argparse.Namespace, phase: str) -> float:
    """Wait (at most ``--quiet-wait`` s) for other work to leave the CPUs mostly idle."""
    deadline = time.monotonic() + args.quiet_wait
    while True:
        busy = cpu_busy_share()
        if busy <= args.quiet_threshold or time.monotonic() >= deadline:
            note = "" if busy <= args.quiet_threshold else " [WARN: noisy, numbers are high]"
            print(f"CPUs {busy:.0%} busy before {phase}{note}", flush=True)
            return busy
        time.sleep(5)


def child(url: str, part: str, *options: str) -> dict[str, Any]:
    """Run ``part`` of this file in a fresh Django process; its last stdout line is JSON."""
    last = ""
    with subprocess.Popen(
        [PYTHON, __file__, "--child", part, *options],
        cwd=PROJECT_ROOT,
        env=app_env(url, without_celery=True),
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # progress as it happens; the last line is the result
            if last:
                print(last, end="", flush=True)
            last = line
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    result: dict[str, Any] = json.loads(last)
    return result


# --- child: inside Django ----------------------------------------------------------------------


def _segments() -> dict[str, dict[str, Any]]:
    """Query strings of the segment form (as the live count sends them) for each case."""
    from django.utils import timezone

    from membership.models import Tier
    from pos_bridge.models import Store

    today = timezone.localdate()
    gold = Tier.objects.order_by("-min_spend_12m").values_list("pk", flat=True).first()
    regular = Tier.objects.order_by("min_spend_12m").values_list("pk", flat=True).first()
    # The busiest demo store (demo-001 has the largest weight in generate_demo_data).
    store = Store.objects.filter(code__startswith="demo-").order_by("code").first()
    assert gold is not None and regular is not None and store is not None, "no demo data"
    return {
        "everyone linked": {},
        "Gold, 神奈川県, bought in last 90 days": {
            "tiers": gold,
            "prefectures": "神奈川県",
            "last_purchase_from": (today - datetime.timedelta(days=89)).isoformat(),
        },
        f"cosmetics in 180 days at {store.code}": {
            "window_days": 180,
            "categories": "cosmetics",
            "stores": store.pk,
        },
        "spend >= 30,000 in 365 days, >= 5 purchases": {
            "window_days": 365,
            "spend_min": 30_000,
            "purchase_count_min": 5,
        },
        # The demo data has almost no Gold members and few high balances (about 1.4
        # purchases a member): these two select many more, as a real chain's would.
        "Regular, 神奈川県, bought in last 90 days": {
            "tiers": regular,
            "prefectures": "神奈川県",
            "last_purchase_from": (today - datetime.timedelta(days=89)).isoformat(),
        },
        "no purchase in last 90 days (lapsed)": {"window_days": 90, "purchase_count_max": 0},
        "points balance >= 1,000": {"balance_min": 1_000},
        "points balance >= 300": {"balance_min": 300},
        "points expiring within 30 days": {"expiring_within_days": 30},
        "women 30-39 joined in last 2 years": {
            "genders": "female",
            "age_min": 30,
            "age_max": 39,
            "joined_from": (today - datetime.timedelta(days=730)).isoformat(),
        },
    }


def _hq_admin() -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from hq.roles import HqRole

    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    user.groups.add(Group.objects.get_or_create(name=HqRole.HQ_ADMIN)[0])
    return user


def child_counts(runs: int, explain: bool) -> dict[str, Any]:
    from django.db import connection
    from django.http import QueryDict
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from broadcasts.forms import SegmentForm
    from broadcasts.selectors import segment_members

    client = Client()
    client.force_login(_hq_admin())
    results: dict[str, Any] = {}
    for name, query in _segments().items():
        path = "/hq/segments/count.json?" + urlencode(query)
        client.get(path)  # warm-up: connection, caches, the table's pages
        times, count = [], None
        for _ in range(runs):
            began = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200, (response.status_code, response.content)
            count = response.json()["count"]
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        results[name] = {
            "count": count,
            "median": statistics.median(times),
            "max": max(times),
            "queries": len(queries),
        }
        if explain:
            form = SegmentForm(QueryDict(urlencode({"name": "-", **query})))
            assert form.is_valid(), form.errors
            qs = segment_members(criteria=form.criteria())
            sql, params = qs.values("pk").query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(
                    f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({sql}) AS s", params
                )
                plan = "\n".join(row[0] for row in cursor.fetchall())
            print(f"--- EXPLAIN ANALYZE: {name}\n{plan}", flush=True)
    return results


def child_queue(pass_batches: int, keep: bool) -> dict[str, Any]:
    from django.db.models import Count, Max
    from django.utils import timezone

    from broadcasts.models import Broadcast, BroadcastBatch, BroadcastRecipient, Segment
    from broadcasts.selectors import SegmentCriteria, segment_count
    from broadcasts.services.broadcasts import (
        broadcast_save,
        broadcast_schedule,
        broadcasts_run_due,
    )
    from broadcasts.services.segments import segment_save
    from line_messaging.models import OutboxKind, OutboxMessage

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    user = _hq_admin()
    # Leftovers of an interrupted run would be picked up by the job: remove them first.
    _queue_cleanup()
    segment = Segment.objects.filter(name=BENCH_NAME).first() or segment_save(
        actor=user, name=BENCH_NAME, criteria=SegmentCriteria()
    )
    expected = segment_count(criteria=SegmentCriteria())
    broadcast = broadcast_save(
        actor=user, name=BENCH_NAME, segment=segment, content={"kind": "text", "text": "bench"}
    )
    other_due = Broadcast.objects.filter(
        status__in=["scheduled", "sending"], scheduled_at__lte=timezone.now()
    ).exclude(pk=broadcast.pk)
    assert not other_due.exists(), "other broadcasts are due in this database"
    broadcast_schedule(actor=user, broadcast=broadcast, send_at=None)

    passes: list[dict[str, float]] = []
    began = time.perf_counter()
    while True:
        pass_began = time.perf_counter()
        report = broadcasts_run_due(max_batches=pass_batches)
        seconds = time.perf_counter() - pass_began
        if report.batches:
            passes.append({"seconds": seconds, "recipients": report.recipients})
            done = Broadcast.objects.values_list("targeted", flat=True).get(pk=broadcast.pk)
            print(
                f"  pass {len(passes)}: {report.recipients:,} recipients in {seconds:.1f} s "
                f"({report.recipients / seconds:,.0f}/s); {done:,}/{expected:,} queued",
                flush=True,
            )
        if report.finished or not report.batches:
            break
    total = time.perf_counter() - began
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    broadcast.refresh_from_db()
    batches = BroadcastBatch.objects.filter(broadcast=broadcast)
    per_batch = batches.annotate(n=Count("recipients")).values_list("size", "n")
    sizes_ok = all(size == n for size, n in per_batch)
    outbox_ids = list(batches.values_list("outbox_id", flat=True))
    multicasts = OutboxMessage.objects.filter(pk__in=outbox_ids, kind=OutboxKind.MULTICAST)
    outbox_ok = (
        len(set(outbox_ids)) == len(outbox_ids)
        and multicasts.count() == len(outbox_ids)
        and all(
            len(payload["to"]) == size
            for size, payload in batches.values_list("size", "outbox__payload").iterator()
        )
    )
    recipients = BroadcastRecipient.objects.filter(broadcast=broadcast).count()
    checks = {
        "status queued": broadcast.status == "queued",
        "recipients == segment count": recipients == expected == broadcast.targeted,
        "every batch <= 500": (batches.aggregate(m=Max("size"))["m"] or 0) <= 500,
        "batch size == its recipient rows": sizes_ok,
        "one multicast outbox row per batch, carrying the batch": outbox_ok,
    }
    result = {
        "segment_count": expected,
        "estimated": broadcast.estimated,
        "recipients": recipients,
        "batches": broadcast.batches_queued,
        "seconds": total,
        "first_pass_rate": passes[0]["recipients"] / passes[0]["seconds"] if passes else 0,
        "last_pass_rate": passes[-1]["recipients"] / passes[-1]["seconds"] if passes else 0,
        "rss_start_mb": rss_start / 1024,
        "rss_peak_mb": rss_peak / 1024,
        "checks": checks,
    }
    if not keep:
        _queue_cleanup()
    return result


def _queue_cleanup() -> None:
    from django.db import transaction

    from broadcasts.models import Broadcast, BroadcastBatch, BroadcastRecipient
    from line_messaging.models import OutboxMessage

    with transaction.atomic():
        mine = Broadcast.objects.filter(name=BENCH_NAME)
        outbox_ids = list(
            BroadcastBatch.objects.filter(broadcast__in=mine).values_list("outbox_id", flat=True)
        )
        BroadcastRecipient.objects.filter(broadcast__in=mine).delete()
        BroadcastBatch.objects.filter(broadcast__in=mine).delete()
        mine.delete()
        OutboxMessage.objects.filter(pk__in=outbox_ids).delete()


def run_child(part: str, rest: list[str]) -> None:
    import django

    sys.path.insert(0, str(PROJECT_ROOT))
    django.setup()
    if part == "counts":
        result = child_counts(runs=int(rest[0]), explain=rest[1] == "1")
    else:
        result = child_queue(pass_batches=int(rest[0]), keep=rest[1] == "1")
    print(json.dumps(result, ensure_ascii=False), flush=True)


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        run_child(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--server-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", default="bench_segments")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed count requests per segment")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE per count")
    parser.add_argument("--pass-batches", type=int, default=200, help="batches per job pass")
    parser.add_argument("--no-counts", action="store_true", help="skip the live counts")
    parser.add_argument("--no-queue", action="store_true", help="skip the background job")
    parser.add_argument("--keep-broadcast", action="store_true", help="keep its rows afterwards")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--quiet-threshold", type=float, default=0.25, help="busy share")
    parser.add_argument("--quiet-wait", type=float, default=120, help="seconds to wait")
    args = parser.parse_args()
    failed = False
    try:
        url = database_ready(args)
        sizes = psql(
            args.server_url,
            "SELECT (SELECT count(*) FROM membership_member) || ' members, ' || "
            "(SELECT count(*) FROM line_messaging_linefriend WHERE member_id IS NOT NULL) "
            "|| ' linked friends, ' || (SELECT count(*) FROM pos_bridge_purchase) "
            "|| ' purchases, ' || (SELECT count(*) FROM pos_bridge_purchaseitem) || ' items'",
            args.db,
        )
        print(f"database {args.db}: {sizes}", flush=True)
        if not args.no_counts:
            machine_wait_quiet(args, "the live counts")
            counts = child(url, "counts", str(args.runs), "1" if args.explain else "0")
            print(
                f"\n{'segment (live count)':<46} {'count':>9} {'median':>9} {'max':>9} {'SQL':>4}"
            )
            for name, r in counts.items():
                failed |= r["median"] > COUNT_TARGET_SECONDS
                print(
                    f"{name:<46} {r['count']:>9,} {r['median'] * 1000:>7.0f}ms "
                    f"{r['max'] * 1000:>7.0f}ms {r['queries']:>4}"
                )
            print(f"(median of {args.runs} requests; target about {COUNT_TARGET_SECONDS:.0f} s)")
        if not args.no_queue:
            print("\nqueueing the broadcast to 'everyone linked' ...", flush=True)
            machine_wait_quiet(args, "the job")
            q = child(url, "queue", str(args.pass_batches), "1" if args.keep_broadcast else "0")
            rate = q["recipients"] / q["seconds"] if q["seconds"] else 0.0
            per_million = 1_000_000 / rate if rate else float("inf")
            failed |= per_million > QUEUE_TARGET_SECONDS_PER_MILLION
            print(
                f"recipients {q['recipients']:,} (segment {q['segment_count']:,}, "
                f"estimated {q['estimated']:,}) in {q['batches']:,} batches\n"
                f"total {q['seconds']:.1f} s, {rate:,.0f} recipients/s "
                f"(first pass {q['first_pass_rate']:,.0f}/s, last {q['last_pass_rate']:,.0f}/s)"
                f" -> {per_million:.0f} s per million (target "
                f"{QUEUE_TARGET_SECONDS_PER_MILLION:.0f} s)\n"
                f"peak RSS {q['rss_peak_mb']:.0f} MB (at start {q['rss_start_mb']:.0f} MB)"
            )
            for check, ok in q["checks"].items():
                failed |= not ok
                print(f"  [{'ok' if ok else 'FAIL'}] {check}")
    finally:
        if args.drop:
            psql(args.server_url, f'DROP DATABASE IF EXISTS "{args.db}"')
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
