from django.core.management.base import BaseCommand

from pos_bridge.services.idempotency import idempotency_records_purge


class Command(BaseCommand):
    help = (
        "Forget finished idempotency keys older than IDEMPOTENCY_KEY_TTL_HOURS (min 72). Run daily."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"purged {idempotency_records_purge()} idempotency records")
