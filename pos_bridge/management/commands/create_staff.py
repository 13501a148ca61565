from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from pos_bridge.models import StaffRole
from pos_bridge.services.staff import staff_account_create


class Command(BaseCommand):
    help = (
        "Create a login for a store's staff scanner (/staff/) and print its password alone "
        "on the last line. The password is shown only once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--store", required=True, help="store code")
        parser.add_argument(
            "--role",
            choices=[role.value for role in StaffRole],
            default=StaffRole.STORE_STAFF.value,
        )

    def handle(self, *args, username: str, store: str, role: str, **options):
        try:
            issued = staff_account_create(username=username, store_code=store, role=role)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError(f"staff account not created: {' '.join(exc.messages)}") from exc
        self.stdout.write(
            f"created staff account {username} for store {issued.staff.store.code} "
            f"({issued.staff.get_role_display()}). Password (shown once):"
        )
        self.stdout.write(issued.password)
