from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from pos_bridge.services.stores import terminal_create


class Command(BaseCommand):
    help = (
        "Create a POS terminal for a store and print its API key alone on the last line. "
        "The key is shown only once; only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store code")
        parser.add_argument("--name", required=True, help="terminal name, e.g. register-1")

    def handle(self, *args, store: str, name: str, **options):
        try:
            issued = terminal_create(store_code=store, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError(f"terminal not created: {exc.messages}") from exc
        self.stdout.write(
            f"created terminal {issued.terminal} (id {issued.terminal.pk}). "
            "API key (shown once, store it in the POS now):"
        )
        self.stdout.write(issued.api_key)
