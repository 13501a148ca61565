from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from hq.roles import HQ_GROUPS, HqRole
from hq.services.accounts import hq_user_create


class Command(BaseCommand):
    help = (
        "Create an HQ login (hq_admin: everything; hq_analyst: read-only, personal data "
        "masked) and print its password alone on the last line. It is shown only once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[role.value for role in HQ_GROUPS])

    def handle(self, *args, username: str, role: str, **options):
        try:
            issued = hq_user_create(username=username, role=HqRole(role))
        except ValidationError as exc:
            raise CommandError(f"HQ user not created: {' '.join(exc.messages)}") from exc
        self.stdout.write(f"created HQ user {username} ({role}). Password (shown once):")
        self.stdout.write(issued.password)
