import datetime

from django.core.management.base import BaseCommand

from line_messaging.services.triggers import expiry_reminders_send


class Command(BaseCommand):
    help = (
        "Queue LINE reminders of points expiring within the configured number of days. "
        "Each member is reminded once per expiry date, so it is safe to run daily from cron "
        "(or more often); the deliver_messages worker sends them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--today", type=datetime.date.fromisoformat, help="YYYY-MM-DD (default: today)"
        )

    def handle(self, *args, today: datetime.date | None, **options):
        report = expiry_reminders_send(today=today)
        self.stdout.write(f"reminders queued {report.sent}, skipped {report.skipped}")
