from django.core.management.base import BaseCommand

from audit.login_throttle import login_failures_purge


class Command(BaseCommand):
    help = "Forget failed logins older than the throttle window (they no longer count)."

    def handle(self, *args, **options):
        self.stdout.write(f"deleted {login_failures_purge()} old login failures")
