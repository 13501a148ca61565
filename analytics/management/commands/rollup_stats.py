from django.core.management.base import BaseCommand

from analytics.services.rollups import rollup_run


class Command(BaseCommand):
    help = (
        "Update the HQ dashboard's daily roll-ups: recompute only the days changed since the "
        "last run (refunds of old sales included) and today's snapshot. Idempotent; safe from "
        "cron at any frequency (a run that finds another one running does nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--full", action="store_true", help="recompute every day since the first sale"
        )

    def handle(self, *args, **options):
        result = rollup_run(full=options["full"])
        if not result.ran:
            self.stdout.write("another roll-up is running: nothing done")
            return
        self.stdout.write(f"rolled up {result.days} days and {result.months} months")
