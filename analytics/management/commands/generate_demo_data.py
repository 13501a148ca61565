import sys
import time

from django.core.management.base import BaseCommand

from analytics.services.demo_data import DemoDataExists, demo_data_generate
from analytics.services.rollups import rollup_run


class Command(BaseCommand):
    help = (
        "Load chain-scale demo data (stores demo-*, members, LINE friends and links, purchases "
        "with items, refunds and a consistent point ledger) over the last ~13 months, then run "
        "the dashboard roll-ups. Refuses to run twice on one database. For a quiet database: "
        "ids are assigned here."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, required=True)
        parser.add_argument("--purchases", type=int, required=True)
        parser.add_argument("--stores", type=int, default=50)
        parser.add_argument("--days", type=int, default=395, help="period ending today")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--batch", type=int, default=20_000, help="members per commit")
        parser.add_argument("--no-rollup", action="store_true", help="skip rollup_stats")

    def handle(self, *args, **options):
        started = time.monotonic()

        def log(message: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:7.1f}s] {message}")

        try:
            result = demo_data_generate(
                members=options["members"],
                purchases=options["purchases"],
                stores=options["stores"],
                days=options["days"],
                seed=options["seed"],
                batch=options["batch"],
                log=log,
            )
        except (DemoDataExists, ValueError) as exc:
            self.stderr.write(str(getattr(exc, "message", exc)))
            sys.exit(1)
        log(
            f"loaded {result.stores} stores, {result.members:,} members, "
            f"{result.friends:,} friends, {result.links:,} links, "
            f"{result.purchases:,} purchases, {result.items:,} items, "
            f"{result.refunds:,} refunds, {result.entries:,} ledger entries"
        )
        if not options["no_rollup"]:
            rollup = rollup_run(full=True)
            log(f"rolled up {rollup.days} days and {rollup.months} months")
