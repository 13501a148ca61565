from django.core.management.base import BaseCommand, CommandError

from line_messaging.services.richmenus import richmenu_sync


class Command(BaseCommand):
    help = (
        "Re-apply the right rich menu to every friend (linked menu for linked users, the "
        "default for the others) in bulk calls of 500, backing off on 429. Repairs menus "
        "after a redesign or an outage."
    )

    def handle(self, *args, **options):
        try:
            result = richmenu_sync(log=self.stdout.write)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"synced {result.linked_users} linked and {result.unlinked_users} unlinked users "
            f"in {result.bulk_calls} bulk calls"
        )
