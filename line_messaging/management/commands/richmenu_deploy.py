from django.core.management.base import BaseCommand

from line_messaging.services.richmenus import richmenu_deploy


class Command(BaseCommand):
    help = (
        "Create or update the rich menus (unlinked / linked), upload their images, point the "
        "aliases at them and make the unlinked menu the default. Idempotent."
    )

    def handle(self, *args, **options):
        result = richmenu_deploy(log=self.stdout.write)
        self.stdout.write(
            f"rich menus created: {', '.join(result.created) or '-'}; "
            f"unchanged: {', '.join(result.kept) or '-'}"
        )
