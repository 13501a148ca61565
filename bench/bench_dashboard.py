"""HQ dashboard benchmark: response time of /hq/ with chain-scale data on PostgreSQL.

Loads 1,000,000 members and 5,000,000 purchases with ``generate_demo_data`` into its own
database (or reuses one already loaded), brings the roll-ups up to date with
``rollup_stats``, then requests the dashboard in-process through Django's test client
(middleware, view, selectors, template; no network) and prints median and p95 per case:
default range (30 days) and 12 months, each for all stores and for one store.

    .venv/bin/python bench/bench_dashboard.py                 # load if needed, measure
    .venv/bin/python bench/bench_dashboard.py --drop          # drop the database afterwards
    .venv/bin/python bench/bench_dashboard.py --members 20000 --purchases 100000 --db bench_small
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench_env import app_env, database_url, manage

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TARGET_SECONDS = 1.0


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
    env = app_env(url)
    manage(env, "migrate", "-v0")
    loaded = psql(
        args.server_url,
        "SELECT count(*) FROM pos_bridge_store WHERE code LIKE 'demo-%'",
        db=args.db,
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
    seconds = manage(env, "rollup_stats")
    print(f"rollup_stats (incremental): {seconds:.1f} s", flush=True)
    return url


MEASURE = r"""
import datetime, json, statistics, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pos_bridge.models import Store

requests = int(sys.argv[1])
user, _ = get_user_model().objects.get_or_create(
    username="bench-dashboard", defaults={"is_superuser": True, "is_staff": True}
)
client = Client()
client.force_login(user)
today = timezone.localdate()
year = {"from": (today - datetime.timedelta(days=364)).isoformat(), "to": today.isoformat()}
store = Store.objects.filter(code__startswith="demo-").order_by("code").first().code
cases = {
    "default range (30 days), all stores": {},
    "default range (30 days), one store": {"store": store},
    "12 months, all stores": year,
    "12 months, one store": {**year, "store": store},
}
results = {}
for name, query in cases.items():
    for _ in range(2):  # warm-up: connections, template and code caches
        client.get("/hq/", query)
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get("/hq/", query)
        times.append(time.perf_counter() - began)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get("/hq/", query)
    times.sort()
    results[name] = {
        "median": statistics.median(times),
        "p95": times[max(0, round(0.95 * len(times)) - 1)],
        "max": times[-1],
        "queries": len(queries),
        "bytes": len(response.content),
    }
print(json.dumps(results))
"""


def measure(url: str, requests: int) -> dict[str, dict[str, float]]:
    env = app_env(url)
    out = subprocess.run(
        [PYTHON, "-c", MEASURE, str(requests)],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="bench_dashboard")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per case")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    args = parser.parse_args()
    try:
        url = database_ready(args)
        counts = psql(
            args.server_url,
            "SELECT (SELECT count(*) FROM membership_member) || ' members, ' || "
            "(SELECT count(*) FROM pos_bridge_purchase) || ' purchases, ' || "
            "(SELECT count(*) FROM membership_pointentry) || ' ledger entries'",
            db=args.db,
        )
        print(f"database {args.db}: {counts}")
        results = measure(url, args.requests)
    finally:
        if args.drop:
            psql(args.server_url, f'DROP DATABASE IF EXISTS "{args.db}"')
    worst = 0.0
    print(f"\n{'case':<40} {'median':>9} {'p95':>9} {'max':>9} {'SQL':>5}")
    for name, r in results.items():
        worst = max(worst, r["p95"])
        print(
            f"{name:<40} {r['median'] * 1000:>7.0f}ms {r['p95'] * 1000:>7.0f}ms "
            f"{r['max'] * 1000:>7.0f}ms {r['queries']:>5}"
        )
    verdict = "met" if worst < TARGET_SECONDS else "MISSED"
    print(f"\ntarget p95 < {TARGET_SECONDS:.0f} s: {verdict} (worst p95 {worst * 1000:.0f} ms)")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
