"""The Django side of the purchase benchmark: seed members, count SQL per purchase.

Run against the benchmark database only (``DATABASE_URL`` must name it); started by
``bench_purchases.py`` with the right environment::

    python bench/bench_django.py seed-members --count 1000 --cards-file cards.txt
    python bench/bench_django.py count-queries --api-key KEY --cards-file cards.txt
    python bench/bench_django.py profile --api-key KEY --cards-file cards.txt [--top 40]

``profile`` sends purchases straight into the WSGI application in this process (no HTTP,
no other process competing) and prints the CPU time per purchase; with ``--top`` it also
prints where that time goes (cProfile, CPU clock). It is how the purchase path's costs
were found: see ``common/rowsql.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def members_seed(*, count: int, cards_file: Path, seed: int, linked_share: float) -> None:
    """Bulk-create ``count`` active members with issued card numbers and no points; link
    ``linked_share`` of them to a LINE friend (their purchases queue a LINE receipt)."""
    from line_messaging.models import LineFriend
    from membership.models import Member
    from membership.services.members import card_number_generate

    rng = random.Random(seed)
    today = datetime.date.today()
    card_numbers: set[str] = set()
    while len(card_numbers) < count:
        card_numbers.add(card_number_generate())
    members = [
        Member(
            card_number=number,
            birth_date=datetime.date(rng.randint(1950, 2005), rng.randint(1, 12), 1),
            joined_on=today - datetime.timedelta(days=rng.randint(0, 1500)),
        )
        for number in sorted(card_numbers)
    ]
    Member.objects.bulk_create(members, batch_size=500)
    linked = [m for m in Member.objects.order_by("id") if rng.random() < linked_share]
    LineFriend.objects.bulk_create(
        [LineFriend(user_id=f"U{rng.getrandbits(128):032x}", member=member) for member in linked],
        batch_size=500,
    )
    cards_file.write_text("\n".join(sorted(card_numbers)) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps({"members": len(members), "linked": len(linked)}) + "\n")


def purchase_queries_count(*, api_key: str, cards_file: Path) -> None:
    """Post purchases in-process and report how many SQL statements each one ran.

    The first purchase of each kind is not counted: it fills per-process caches.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from line_messaging.models import LineFriend
    from membership.models import Member

    cards = set(cards_file.read_text(encoding="utf-8").split())
    on_line = set(
        LineFriend.objects.filter(member__isnull=False).values_list(
            "member__card_number", flat=True
        )
    )
    samples: list[tuple[str, dict[str, str]]] = []
    linked_card = next(iter(sorted(cards & on_line)), None)
    if linked_card:
        samples.append(("member_on_line", {"card": linked_card}))
    plain_card = Member.objects.filter(card_number__in=sorted(cards - on_line)).first()
    if plain_card:
        samples.append(("member", {"card": plain_card.card_number}))
    samples.append(("non_member", {}))
    client = Client()
    headers = {"Authorization": f"Bearer {api_key}"}
    occurred_at = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=9)))
    report: dict[str, object] = {}
    for label, extra in samples:
        for attempt in ("warm", "counted"):
            body = {
                "receipt_number": f"Q-{label}-{attempt}",
                "occurred_at": occurred_at.isoformat(),
                "total": 1280,
                "items": [
                    {
                        "sku": "4901234567894",
                        "name": "保湿クリーム",
                        "category": "cosmetics",
                        "quantity": 1,
                        "unit_price": 1280,
                    }
                ],
                "points_to_redeem": 0,
                **extra,
            }
            with CaptureQueriesContext(connection) as captured:
                response = client.post(
                    "/api/pos/v1/purchases",
                    data=json.dumps(body),
                    content_type="application/json",
                    headers={**headers, "Idempotency-Key": f"Q-{label}-{attempt}"},
                )
        report[label] = {
            "status": response.status_code,
            "queries": len(captured.captured_queries),
            "sql": [query["sql"][:200] for query in captured.captured_queries],
        }
    sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")


def _wsgi_post(app, *, path: str, body: bytes, headers: dict[str, str]) -> str:
    """Call the WSGI application as a server would; return the status line."""
    import io

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "HTTP_HOST": "127.0.0.1:8000",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }
    statuses: list[str] = []
    response = app(environ, lambda status, _headers: statuses.append(status))
    b"".join(response)
    response.close()
    return statuses[0]


def purchases_profile(*, api_key: str, cards_file: Path, count: int, top: int, seed: int) -> None:
    """CPU per purchase through the WSGI application in this process; optionally a profile."""
    import cProfile
    import pstats
    import time

    from django.core.handlers.wsgi import WSGIHandler

    sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    from load_driver import purchase_bodies

    app = WSGIHandler()
    cards = cards_file.read_text(encoding="utf-8").split()
    warmup = 200
    bodies = purchase_bodies(
        count=warmup + 2 * count,
        run_tag=f"P{os.getpid()}-{int(time.time())}",
        cards=cards,
        member_share=0.8,
        seed=seed,
    )

    def send(index: int) -> None:
        key, body = bodies[index]
        headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": key}
        status = _wsgi_post(app, path="/api/pos/v1/purchases", body=body, headers=headers)
        if not status.startswith("201"):
            raise SystemExit(f"purchase {index} answered {status}")

    for index in range(warmup):
        send(index)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for index in range(warmup, warmup + count):
        send(index)
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    report = {
        "purchases": count,
        "cpu_ms_per_purchase": round(cpu * 1000 / count, 2),
        "wall_ms_per_purchase": round(wall * 1000 / count, 2),
    }
    sys.stdout.write(json.dumps(report) + "\n")
    if top:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for index in range(warmup + count, warmup + 2 * count):
            send(index)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seed_parser = commands.add_parser("seed-members")
    seed_parser.add_argument("--count", type=int, default=1000)
    seed_parser.add_argument("--cards-file", type=Path, required=True)
    seed_parser.add_argument("--seed", type=int, default=1)
    seed_parser.add_argument("--linked-share", type=float, default=0.5)
    count_parser = commands.add_parser("count-queries")
    count_parser.add_argument("--api-key", required=True)
    count_parser.add_argument("--cards-file", type=Path, required=True)
    profile_parser = commands.add_parser("profile")
    profile_parser.add_argument("--api-key", required=True)
    profile_parser.add_argument("--cards-file", type=Path, required=True)
    profile_parser.add_argument("--count", type=int, default=1000, help="measured purchases")
    profile_parser.add_argument("--top", type=int, default=0, help="print the top N functions")
    profile_parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    django_setup()
    if args.command == "seed-members":
        members_seed(
            count=args.count,
            cards_file=args.cards_file,
            seed=args.seed,
            linked_share=args.linked_share,
        )
    elif args.command == "profile":
        purchases_profile(
            api_key=args.api_key,
            cards_file=args.cards_file,
            count=args.count,
            top=args.top,
            seed=args.seed,
        )
    else:
        purchase_queries_count(api_key=args.api_key, cards_file=args.cards_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
