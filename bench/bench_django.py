"""The Django side of the purchase benchmark: seed members, count SQL per purchase.

Run against the benchmark database only (``DATABASE_URL`` must name it); started by
``bench_purchases.py`` with the right environment::

    python bench/bench_django.py seed-members --count 1000 --cards-file cards.txt
    python bench/bench_django.py count-queries --api-key KEY --cards-file cards.txt
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


def members_seed(*, count: int, cards_file: Path, seed: int) -> None:
    """Bulk-create ``count`` active members with issued card numbers and no points."""
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
    cards_file.write_text("\n".join(sorted(card_numbers)) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps({"members": len(members)}) + "\n")


def purchase_queries_count(*, api_key: str, cards_file: Path) -> None:
    """Post purchases in-process and report how many SQL statements each one ran.

    The first purchase of each kind is not counted: it fills per-process caches.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    card = cards_file.read_text(encoding="utf-8").split()[0]
    client = Client()
    headers = {"Authorization": f"Bearer {api_key}"}
    occurred_at = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=9)))
    report: dict[str, object] = {}
    for label, extra in (("member", {"card": card}), ("non_member", {})):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seed_parser = commands.add_parser("seed-members")
    seed_parser.add_argument("--count", type=int, default=1000)
    seed_parser.add_argument("--cards-file", type=Path, required=True)
    seed_parser.add_argument("--seed", type=int, default=1)
    count_parser = commands.add_parser("count-queries")
    count_parser.add_argument("--api-key", required=True)
    count_parser.add_argument("--cards-file", type=Path, required=True)
    args = parser.parse_args(argv)

    django_setup()
    if args.command == "seed-members":
        members_seed(count=args.count, cards_file=args.cards_file, seed=args.seed)
    else:
        purchase_queries_count(api_key=args.api_key, cards_file=args.cards_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
