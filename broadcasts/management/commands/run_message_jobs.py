import time

from django.core.management.base import BaseCommand

from broadcasts.services.jobs import message_jobs_run

# Expiry reminders scan every open lot due soon; once an hour is plenty in loop mode.
REMINDER_INTERVAL_SECONDS = 3600


class Command(BaseCommand):
    help = (
        "Queue scheduled LINE messaging work: due broadcasts (in batches of 500, resumable), "
        "step messages after a first purchase and points-expiring reminders. --once runs one "
        "pass (for cron, every minute); without it, runs until stopped. The deliver_messages "
        "worker sends what this queues."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--interval", type=float, default=10.0, help="seconds between runs")
        parser.add_argument(
            "--max-batches", type=int, default=None, help="stop a pass after this many batches"
        )

    def handle(self, *args, once: bool, interval: float, max_batches: int | None, **options):
        if once:
            self.stdout.write(message_jobs_run(max_batches=max_batches).summary())
            return
        self.stdout.write("running message jobs (Ctrl-C to stop)")
        last_reminders = 0.0
        try:
            while True:
                remind = time.monotonic() - last_reminders >= REMINDER_INTERVAL_SECONDS
                # In loop mode a pass is bounded so new schedules are not held up by one
                # large send; the next pass resumes it.
                report = message_jobs_run(max_batches=max_batches or 200, reminders=remind)
                if remind:
                    last_reminders = time.monotonic()
                if report.broadcasts.batches or report.steps.sent or report.reminders:
                    self.stdout.write(report.summary())
                if not report.broadcasts.batches:
                    time.sleep(interval)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
