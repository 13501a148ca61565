from django.core.management.base import BaseCommand

from membership.services.card_codes import card_codes_purge


class Command(BaseCommand):
    help = "Delete card codes (member card QR) that expired more than a day ago. Run daily."

    def handle(self, *args, **options):
        self.stdout.write(f"purged {card_codes_purge()} expired card codes")
