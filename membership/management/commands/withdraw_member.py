from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from membership.errors import CardNumberInvalid
from membership.models import Member
from membership.services.members import card_number_normalize
from membership.services.withdrawal import member_withdraw


class Command(BaseCommand):
    help = (
        "Withdraw a member (退会): forfeit the balance through the ledger, erase personal "
        "data, unlink LINE and reset the rich menu, record it in the audit log. Idempotent: "
        "a member already withdrawn is left as is."
    )

    def add_arguments(self, parser):
        parser.add_argument("card_number")
        parser.add_argument("--reason", required=True, help="why (kept in the audit log)")
        parser.add_argument(
            "--actor", default="", help="username of the HQ user who asked (default: system)"
        )

    def handle(self, *args, card_number: str, reason: str, actor: str, **options):
        if not reason.strip():
            raise CommandError("--reason must not be empty")
        try:
            number = card_number_normalize(card_number)
        except CardNumberInvalid as exc:
            raise CommandError(f"invalid card number: {card_number!r}") from exc
        member = Member.objects.filter(card_number=number).first()
        if member is None:
            raise CommandError(f"no member with card number {number}")
        user = None
        if actor:
            user = get_user_model().objects.filter(username=actor, is_active=True).first()
            if user is None:
                raise CommandError(f"no active user {actor!r}")
        outcome = member_withdraw(member=member, actor=user, reason=reason)
        if not outcome.withdrawn:
            self.stdout.write(f"member {number} had already withdrawn: nothing changed")
            return
        self.stdout.write(
            f"member {number} withdrawn: {outcome.points_forfeited} points forfeited, "
            f"LINE {'unlinked' if outcome.line_unlinked else 'was not linked'}"
        )
