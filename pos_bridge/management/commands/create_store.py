from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from pos_bridge.services.stores import store_create


class Command(BaseCommand):
    help = "Create a store. CODE is a short slug used by HQ and the API (e.g. shibuya)."

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("name")
        parser.add_argument("--prefecture", default="", help="e.g. 東京都")

    def handle(self, *args, code: str, name: str, prefecture: str, **options):
        try:
            store = store_create(code=code, name=name, prefecture=prefecture)
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
            )
            raise CommandError(f"store not created: {problems}") from exc
        self.stdout.write(f"created store {store.code} ({store.name})")
