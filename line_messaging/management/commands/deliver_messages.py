import time

from django.core.management.base import BaseCommand

from line_messaging.services.outbox import outbox_deliver_due, outbox_drain


class Command(BaseCommand):
    help = (
        "Deliver the outbox to LINE (messages and rich menu changes). Runs until stopped; "
        "--once drains what is due and exits. Several workers may run at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="drain what is due, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")

    def handle(self, *args, once: bool, interval: float, **options):
        if once:
            report = outbox_drain()
            self.stdout.write(
                f"sent {report.sent}, retrying {report.retried}, failed {report.failed}, "
                f"skipped {report.skipped}"
            )
            for error in report.errors:
                self.stderr.write(error)
            return
        self.stdout.write("delivering the LINE outbox (Ctrl-C to stop)")
        try:
            while True:
                report = outbox_deliver_due()
                if report.handled:
                    self.stdout.write(
                        f"sent {report.sent}, retrying {report.retried}, failed {report.failed}, "
                        f"skipped {report.skipped}"
                    )
                else:
                    time.sleep(interval)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
