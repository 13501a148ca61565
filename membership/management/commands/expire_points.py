import datetime

from django.core.management.base import BaseCommand, CommandError

from membership.services.points import points_expire_due


class Command(BaseCommand):
    help = (
        "Expire points whose last valid day has passed. Idempotent: safe from cron at any "
        "frequency, and concurrently with itself."
    )

    def add_arguments(self, parser):
        parser.add_argument("--today", help="YYYY-MM-DD (default: today in TIME_ZONE)")

    def handle(self, *args, today: str | None = None, **options):
        day = None
        if today:
            try:
                day = datetime.date.fromisoformat(today)
            except ValueError as exc:
                raise CommandError("--today must be YYYY-MM-DD") from exc
        expired = points_expire_due(today=day)
        self.stdout.write(f"expired {expired} points")
