from django.core.management.base import BaseCommand

from pos_bridge.services.tiers import tiers_refresh_all


class Command(BaseCommand):
    help = (
        "Recompute every member's tier from rolling 12-month spend. Purchases and refunds "
        "update tiers at once; run this daily so spend that leaves the window lowers tiers."
    )

    def handle(self, *args, **options):
        changed = tiers_refresh_all()
        self.stdout.write(f"tiers changed: {changed}")
